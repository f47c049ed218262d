"""L-inf certificates of randomized smoothing on images with several pixels and channels, and the
independence of CERTIFY's two samples.

The oracle is a closed form, never robustkit's own arithmetic: ball inclusion gives the L-inf radius
as the L2 radius over sqrt(d), d the number of input features, typed here from the image's shape
(8 x 8 x 1 = 64, so a factor 8; 32 x 32 x 3 = 3072, so a factor 55.43), and for a linear model the
exact L-inf distance to the boundary is ``|w . x + b| / ||w||_1`` (``tests/linear_models.py``), which
no certificate may exceed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from robustkit.certify import certify
from robustkit.evaluation.certification_suites import CertificationSuite
from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.suites import BenchmarkSuite
from robustkit.evaluation.verification_suites import load_evaluation_suite
from tests.linear_models import exact_distances, linear_model

FEATURES = {(8, 8, 1): 64, (32, 32, 3): 3072}  # counted by hand: height x width x channels


@pytest.mark.parametrize("shape", sorted(FEATURES))
def test_the_linf_radius_is_the_l2_radius_over_the_root_of_the_number_of_features(shape):
    model = linear_model(shape, seed=1)
    x = np.random.default_rng(2).uniform(0, 1, (24, *shape)).astype("float32")
    result = certify(model, x, sigma=0.25, n0=50, n=2000, alpha=0.001, seed=0)
    assert np.count_nonzero(result.radius) >= 8  # enough certificates for the comparison to mean something
    np.testing.assert_allclose(result.radius_linf, result.radius / np.sqrt(FEATURES[shape]), rtol=1e-12)
    l2_truth, linf_truth = exact_distances(x, shape, seed=1)
    assert np.all(result.radius <= l2_truth * (1 + 1e-6))
    assert np.all(result.radius_linf <= linf_truth * (1 + 1e-6))
    labels = np.where(result.prediction == 1, 1, 0)
    by_hand = np.mean((result.prediction == labels) & (result.radius / np.sqrt(FEATURES[shape]) >= 0.004))
    assert result.certified_accuracy(labels, 0.004, norm="linf") == pytest.approx(by_hand)


def test_selection_and_estimation_draw_independent_noise():
    """CERTIFY chooses the class on n0 samples and counts it on n others: with n0 = n the two counts must be
    independent draws, not the same samples counted twice (which would void the 1 - alpha guarantee)."""
    shape = (4,)
    model = linear_model(shape, seed=0)
    # Points on the boundary: each noisy sample is class 0 with probability 1/2.
    w = model.get_weights()[0][:, 0].astype(np.float64)
    b = float(model.get_weights()[1][0])
    x = np.random.default_rng(0).uniform(0.2, 0.8, (40, 4))
    x = (x - np.outer((x @ w + b) / (w @ w), w)).astype("float32")
    result = certify(model, x, sigma=0.5, n0=64, n=64, seed=0)
    same = np.all(result.selection_counts == result.counts, axis=1)
    # Two independent Binomial(64, 1/2) counts agree with probability about 0.07.
    assert same.mean() < 0.3, f"{same.sum()} of 40 examples drew the same counts in both phases"
    diff = result.selection_counts[:, 0] - result.counts[:, 0].astype(np.float64)
    assert diff.std() > 3  # independent: std sqrt(2 * 16) = 5.7; shared samples: 0


def _linf_suite(data: str, model: str, sigma: float, radii: tuple[float, ...]) -> BenchmarkSuite:
    fgsm = load_evaluation_suite("linf")
    fgsm = dataclasses.replace(fgsm, eps=(0.1,), attacks=fgsm.attacks[:1])
    smoothing = CertificationSuite("smoothing-linf", "linf", radii, (sigma,), n0=50, n=400, batch_size=400)
    return BenchmarkSuite("linf-cert", data, [model], [fgsm], limit=30, checks=False, certification_suites=[smoothing])  # type: ignore[arg-type]


@pytest.fixture
def rgb_data(tmp_path, monkeypatch):
    """32x32x3 images in [0, 1] labelled by the linear model itself, as an .npz."""
    from tests.linear_models import rgb_linear

    monkeypatch.chdir(__import__("robustkit.evaluation.suite_files", fromlist=["x"]).repository_root())
    x = np.random.default_rng(5).uniform(0, 1, (30, 32, 32, 3)).astype("float32")
    y = np.argmax(rgb_linear()(x).numpy(), axis=1)
    np.savez(tmp_path / "rgb.npz", x=x, y=y)
    return x, y, str(tmp_path / "rgb.npz")


@pytest.mark.parametrize("case", ["digits-8x8x1", "images-32x32x3"])
def test_an_linf_smoothing_suite_reports_the_l2_certificates_over_the_root_of_the_features(
    case, digits, rgb_data, tmp_path, zoo_cache
):
    if case == "digits-8x8x1":
        from robustkit.sources.zoo import load_zoo_model

        x, y, data, name, model = digits.x_test[:30], digits.y_test[:30], "digits", "digits-mlp", None
        model = load_zoo_model(name)
        shape, sigma, radii = (8, 8, 1), 0.25, (0.0, 0.01, 0.02, 0.04)
    else:
        from tests.linear_models import rgb_linear

        x, y, data = rgb_data
        name, model, shape, sigma, radii = (
            "tests.linear_models:rgb_linear",
            rgb_linear(),
            (32, 32, 3),
            0.5,
            (0.0, 0.002),
        )
    run = run_benchmark(_linf_suite(data, name, sigma, radii), tmp_path / "run")
    direct = certify(model, x, sigma=sigma, n0=50, n=400, seed=0, batch_size=400)  # L2 radii, closed-form tested
    linf = direct.radius / np.sqrt(FEATURES[shape])
    rows = sorted(run.results["certified"], key=lambda r: r["radius"])
    assert [r["radius"] for r in rows] == list(radii)
    for row in rows:
        expected = np.mean((direct.prediction == y) & (linf >= row["radius"]))
        assert row["certified_accuracy"] == pytest.approx(expected), (row["radius"], row["certified_accuracy"])
    assert rows[1]["certified_accuracy"] < rows[0]["certified_accuracy"]  # the grid reaches the radii it tests

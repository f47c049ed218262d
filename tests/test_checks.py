"""Each trust check fires on a model built to trigger it and stays quiet on the digits CNN."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from robustkit.evaluation.checks import CHECKS, run_checks
from robustkit.evaluation.context import predict_labels
from robustkit.evaluation.suites import AttackSpec, AttackSuite
from robustkit.evaluation.sweep import SweepJob, sweep
from tests import check_models

LINF = AttackSuite(
    "linf",
    "linf",
    (0.05, 0.1, 0.2),
    (
        AttackSpec("fgsm", "fgsm", "linf"),
        AttackSpec("pgd-20", "pgd", "linf", steps=20, rel_step_size=0.125, random_start=True),
    ),
)


def _checks(model, digits, tmp_path, suite=LINF, n=200):
    x, y = digits.x_test[:n], digits.y_test[:n]
    correct = predict_labels(model, x, 512) == y
    records = {}
    for spec in suite.attacks:
        job = SweepJob(model, "m", suite, spec, (0.0, 1.0), 0, 512, tmp_path / spec.name)
        cells, _, _ = sweep(job, x, y, correct)
        records[spec.name] = {"broken_eps": _broken(cells, suite, len(y))}
    results = run_checks(model, x, y, correct, suite, records, (0.0, 1.0), 10, seed=0, label="m")
    return {r.name: r for r in results}


def _broken(cells, suite, n):
    broken = [None] * n
    for eps in suite.eps:
        cell = cells[eps]
        for index, success in zip(cell.indices, cell.success):
            if success and broken[index] is None:
                broken[index] = eps
    return broken


def test_all_quiet_on_the_digits_cnn(digits, digits_cnn, tmp_path):
    results = _checks(digits_cnn, digits, tmp_path)
    assert set(results) == set(CHECKS)
    # The suite runs no Square: that check does not apply, and says so rather than passing.
    assert results.pop("black-box-beats-white-box").status == "n/a"
    for result in results.values():
        assert result.status == "pass", result
        assert result.value and result.message


@pytest.mark.slow
@pytest.mark.parametrize(
    "factory, fires",
    [
        (
            check_models.hot_softmax,
            {"probability-outputs": "fail", "zero-gradients": "fail", "huge-eps-reaches-chance": "fail"},
        ),
        (check_models.straight_through_rounding, {"finite-differences": "fail"}),
        (check_models.dropout_on, {"nondeterminism": "fail"}),
        (
            check_models.zero_gradient_quantizer,
            {"zero-gradients": "fail", "huge-eps-reaches-chance": "fail", "loss-improves": "fail"},
        ),
    ],
    ids=["hot-softmax", "rounding", "dropout-on", "zero-gradient-quantizer"],
)
def test_each_check_fires_on_its_model(digits, tmp_path, factory, fires):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = _checks(factory(), digits, tmp_path)
    for name, status in fires.items():
        assert results[name].status == status, results[name]


def test_weak_pgd_is_flagged(digits, digits_cnn, tmp_path):
    weak = AttackSuite(
        "linf",
        "linf",
        (0.1, 0.2),
        (
            AttackSpec("fgsm", "fgsm", "linf"),
            AttackSpec("pgd-2", "pgd", "linf", steps=2, rel_step_size=0.05, random_start=False),
        ),
    )
    results = _checks(digits_cnn, digits, tmp_path, suite=weak)
    assert results["pgd-weaker-than-fgsm"].status == "fail"
    assert results["attack-converged"].status == "fail"


def test_the_gradient_check_fails_on_rounding_off_the_grid(digits, tmp_path):
    """Pixels shifted off the multiples of 1/16 (where a 4-level rounding has its steps): the rounding's
    finite differences are zero, its straight-through gradient is not."""
    from robustkit.evaluation.checks import check_finite_differences

    x = np.clip(digits.x_test[:200] + 1 / 32, 0, 1).astype("float32")
    result = check_finite_differences(check_models.straight_through_rounding(), x, digits.y_test[:200], (0, 1), 0)
    assert result.status == "fail", result
    healthy = check_finite_differences(check_models.variant("healthy"), x, digits.y_test[:200], (0, 1), 0)
    assert healthy.status == "pass", healthy


def test_huge_eps_fails_on_a_binary_model_that_no_eps_can_move(digits):
    """A constant binary classifier keeps 100% at an eps spanning the whole box: above chance (the most
    common label's share) by far more than the margin, so the check fails, as it must on two classes."""
    from robustkit.evaluation.checks import check_huge_eps

    constant = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2, kernel_initializer="zeros")]
    )
    constant.layers[-1].set_weights([np.zeros((64, 2), "float32"), np.array([1.0, 0.0], "float32")])
    labels = (digits.y_test[:200] >= 5).astype(int)
    correct = labels == 0
    result = check_huge_eps(
        constant, digits.x_test[:200][correct], labels[correct], LINF, (0.0, 1.0), 0, 2, labels=labels
    )
    assert result.status == "fail", result
    assert "100.0%" in result.value


@pytest.mark.slow
def test_the_checks_use_the_suite_s_own_gradient_attack_or_say_they_fell_back(digits, digits_cnn, tmp_path):
    apgd_only = AttackSuite("aa", "linf", (0.05, 0.1), (AttackSpec("apgd-ce", "apgd", "linf", steps=10),))
    results = _checks(digits_cnn, digits, tmp_path / "own", suite=apgd_only, n=100)
    assert "apgd-ce gets twice the steps" in results["attack-converged"].message
    assert "pgd-20" not in results["attack-converged"].message
    fgsm_only = AttackSuite("f", "linf", (0.05, 0.1), (AttackSpec("fgsm", "fgsm", "linf"),))
    results = _checks(digits_cnn, digits, tmp_path / "fallback", suite=fgsm_only, n=100)
    assert "fallback: the suite runs no PGD or APGD" in results["attack-converged"].message
    for name in ("pgd-weaker-than-fgsm", "black-box-beats-white-box"):
        assert results[name].status == "n/a", results[name]

"""FMN: the smallest adversarial norm, found once for every eps.

A linear two-class model has a known answer: the distance to its boundary, ``|margin| / ||w||_*``
(the dual norm of the weight difference), when no bound gets in the way. A sweep over an eps grid
runs FMN once and reads every eps off its radii.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.attacks import FMN
from robustkit.errors import ConfigError
from robustkit.evaluation import load_benchmark_suite, run_benchmark

DUAL = {"linf": 1, "l2": 2, "l1": np.inf}


def _linear(weights: np.ndarray) -> keras.Model:
    model = keras.Sequential([keras.Input((len(weights),)), keras.layers.Dense(2)])
    model.layers[-1].set_weights(
        [np.stack([np.zeros_like(weights), weights], axis=1), np.array([0.0, -0.5], "float32")]
    )
    return model


@pytest.mark.parametrize("norm", ["linf", "l2", "l1"])
def test_the_radius_is_the_distance_to_a_linear_boundary(norm):
    weights = np.array([1.0, -2.0, 0.5, 3.0], "float32")
    model = _linear(weights)
    x = np.array([[0.5, 0.5, 0.5, 0.1], [0.2, 0.6, 0.5, 0.1]], "float32")  # class 0: w . x < 0.5, far from the bounds
    margin = 0.5 - x @ weights
    exact = margin / np.linalg.norm(weights, DUAL[norm])
    result = FMN(eps=1.0, norm=norm, steps=200, bounds=(-10.0, 10.0)).run(model, x, [0, 0])
    assert np.all(result.success) and np.allclose(result.radius, exact, rtol=0.02), (result.radius, exact)


@pytest.mark.slow
@settings(max_examples=6)
@given(
    norm=st.sampled_from(["linf", "l2", "l1"]),
    eps=st.floats(0.0, 2.0),
    seed=st.integers(0, 3),
    data=st.data(),
)
def test_fmn_returns_points_inside_the_ball_and_the_bounds(norm, eps, seed, data):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    x = np.array(data.draw(st.lists(st.floats(0, 1, width=32), min_size=12, max_size=12)), "float32").reshape(2, 6)
    result = FMN(eps=eps, norm=norm, steps=10, n_targets=1).run(model, x, [0, 1])
    delta = (result.x_adv.numpy().astype(np.float64) - x).reshape(2, -1)
    size = {"linf": np.abs(delta).max(1), "l2": np.sqrt((delta**2).sum(1)), "l1": np.abs(delta).sum(1)}[norm]
    assert np.all(size <= eps) and np.all(result.x_adv.numpy() >= 0) and np.all(result.x_adv.numpy() <= 1)
    assert np.array_equal(result.success, result.radius <= eps)


def test_one_run_answers_every_eps_of_a_sweep(tmp_path, monkeypatch):
    (tmp_path / "attacks").mkdir()
    (tmp_path / "attacks" / "fmn-only.toml").write_text(
        'name = "fmn-only"\nnorm = "l2"\neps = [0.25, 0.5, 1.0]\n\n[[attack]]\nname = "fmn"\ntype = "fmn"\nsteps = 30\n'
    )
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "once.toml").write_text(
        'models = ["digits-cnn"]\nattacks = ["fmn-only"]\nlimit = 60\nchecks = false\n'
    )
    monkeypatch.chdir(tmp_path)
    run = run_benchmark(load_benchmark_suite("once"), tmp_path / "report")
    record = run.results["examples"]["digits-cnn"]["attack_suites"]["fmn-only"]["fmn"]
    assert record["cell_grad_evals"][1:] == [0, 0] and record["cell_grad_evals"][0] > 0  # one run, charged once
    from robustkit.sources import load_digits_split, load_zoo_model

    data = load_digits_split()
    x, y = data.x_test[:60], data.y_test[:60]
    radius = FMN(eps=1.0, norm="l2", steps=30).run(load_zoo_model("digits-cnn"), x, y).radius
    correct = np.asarray(run.results["examples"]["digits-cnn"]["clean_pred"]) == y
    broken = np.asarray(record["broken_eps"], np.float64)
    for eps in (0.25, 0.5, 1.0):  # broken at eps exactly when the radius of the one run is at most eps
        assert np.array_equal(correct & (broken <= eps), correct & (radius <= eps))


def test_settings_that_make_no_sense_say_so():
    with pytest.raises(ConfigError, match="gamma_init must be a number in"):
        FMN(eps=0.1, gamma_init=1.5)
    with pytest.raises(ConfigError, match="a targeted FMN takes n_targets=0"):
        FMN(eps=0.1, targeted=True, n_targets=2)


def test_on_images_with_black_pixels_the_l2_search_crosses_the_boundary(digits, digits_cnn):
    """Digits have many pixels at the lower bound: with them in the gradient, the L2 distance estimate
    falls short at every step and most searches stall just inside the boundary."""
    x, y = digits.x_test[:60], digits.y_test[:60]
    result = FMN(eps=2.0, norm="l2", steps=50).run(digits_cnn, x, y)
    assert np.all(np.isfinite(result.radius[result.clean_correct]))
    assert np.median(result.radius[result.clean_correct]) < 0.8

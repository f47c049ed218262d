"""Exact verification's answers can be trusted: witnesses inside the ball, time-outs never proofs, and the
rounding tolerance on both sides of zero.

Oracles: the ball's definition checked in float64 on the returned arrays; a solver that is made to stop
before it finishes (its dual bound then decides, its best point proves nothing); and a linear model
whose exact worst margin over the ball is ``x - eps`` by hand.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.optimize import OptimizeResult

import robustkit.verify.exact as exact_module
from robustkit.verify import exact_verify, margin_bounds

EPS = 0.02


@pytest.fixture(scope="module")
def digits_mlp_64_24_24_10(digits):
    """A 64-24-24-10 ReLU MLP on the digits (trained in a few seconds, deterministic)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(24, activation="relu"),
         keras.layers.Dense(24, activation="relu"), keras.layers.Dense(10)]
    )  # fmt: skip
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, epochs=30, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def answers(digits, digits_mlp_64_24_24_10):
    """The exact verifier's answers on 150 test digits in float32, computed once for the tests that read them."""
    return exact_verify(digits_mlp_64_24_24_10, digits.x_test[:150], digits.y_test[:150], EPS, time_limit=5.0)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_witnesses_lie_inside_the_ball_and_the_bounds_and_are_misclassified(
    dtype, digits, digits_mlp_64_24_24_10, answers
):
    model = digits_mlp_64_24_24_10
    x, y = digits.x_test[:150].astype(dtype), digits.y_test[:150]
    if dtype == "float64":  # pixels float32 cannot hold: x - eps and x + eps round differently there
        x = np.clip(x + np.random.default_rng(0).uniform(-1e-9, 1e-9, x.shape), 0, 1)
    found = answers if dtype == "float32" else exact_verify(model, x, y, EPS, time_limit=5.0)
    broken = np.flatnonzero(found.status == "broken")
    assert len(broken) >= 3, found.status  # enough counterexamples for the check to mean something
    assert found.witness.dtype == np.dtype(dtype)
    for i in broken:
        witness = found.witness[i].astype(np.float64)
        assert np.abs(witness - x[i].astype(np.float64)).max() <= EPS, (i, np.abs(witness - x[i]).max() - EPS)
        assert witness.min() >= 0 and witness.max() <= 1
        assert int(np.argmax(model(found.witness[i][None], training=False)[0])) != y[i]


@pytest.mark.slow
def test_no_example_is_both_proved_and_broken_by_an_attack(digits, digits_mlp_64_24_24_10, answers):
    """APGD with restarts is the independent oracle: an example it breaks is never proved, and with time
    to finish the exact verifier finds a counterexample for each one it breaks."""
    from robustkit.attacks import APGD

    model, found = digits_mlp_64_24_24_10, answers
    x, y = digits.x_test[:150], digits.y_test[:150]
    attacked = APGD(eps=EPS, steps=50, restarts=2, seed=0).run(model, x, y)
    broken = attacked.success & (attacked.clean_pred == y)
    assert broken.sum() >= 3
    assert not np.any(broken & (found.status == "verified")), np.flatnonzero(broken & (found.status == "verified"))
    assert np.all(found.status[broken] == "broken"), found.status[broken]


def _two_layer() -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)])
    model.set_weights([
        np.array([[1.0, -1.0, 0.5, -0.5], [0.5, 1.0, -1.0, 0.25]], "float32"),
        np.array([0.0, 0.1, 0.2, -0.1], "float32"),
        np.array([[1.0, -0.5, 0.2], [-0.3, 0.8, 0.1], [0.4, 0.2, -0.6], [0.1, -0.2, 0.9]], "float32"),
        np.array([0.5, 0.0, -0.2], "float32"),
    ])  # fmt: skip
    return model


def _stopped_solver(dual_bound, claimed=None):
    """HiGHS stopped at its time limit: the true optimum's point as its incumbent, the given dual bound, and
    optionally a claimed objective value that the point does not reach."""
    real = exact_module.milp

    def solve(c, **kwargs):
        result = real(c, **kwargs)
        value = result.fun if claimed is None else claimed
        bound = dual_bound(result.fun)
        return OptimizeResult(status=1, success=False, x=result.x, fun=value, mip_dual_bound=bound,
                              message="Time limit reached.")  # fmt: skip

    return solve


X, LABEL, SMALL_EPS = np.array([[0.3, 0.2]], "float32"), [0], 0.05


def test_the_example_is_robust_and_provable_when_the_solver_finishes():
    found = exact_verify(_two_layer(), X, LABEL, SMALL_EPS, prune=False)
    assert found.status.tolist() == ["verified"] and found.margin[0] > 0.1


def test_a_time_out_is_never_a_proof_unless_the_dual_bound_decides(monkeypatch):
    """At the time limit the incumbent (the best point found, here the true optimum, positive) says nothing
    about the points not yet searched: only the dual bound proves."""
    monkeypatch.setattr(exact_module, "milp", _stopped_solver(lambda optimum: -0.5))
    found = exact_verify(_two_layer(), X, LABEL, SMALL_EPS, prune=False)
    assert found.status.tolist() == ["unknown"]
    monkeypatch.setattr(exact_module, "milp", _stopped_solver(lambda optimum: optimum - 1e-3))
    found = exact_verify(_two_layer(), X, LABEL, SMALL_EPS, prune=False)
    assert found.status.tolist() == ["verified"]


def test_a_counterexample_is_re_checked_on_the_model(monkeypatch):
    """A solver that reports a negative margin at a point the model classifies correctly (its float rounding
    gone wrong) gives no counterexample."""
    monkeypatch.setattr(exact_module, "milp", _stopped_solver(lambda optimum: -1.0, claimed=-1.0))
    found = exact_verify(_two_layer(), X, LABEL, SMALL_EPS, prune=False)
    assert found.status.tolist() == ["unknown"]
    assert np.isnan(found.counterexample).all()


def _identity_margin() -> keras.Model:
    """logits (x, 0): the margin of class 0 over the ball is x - eps exactly, its scale 1 + |x|."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    model.set_weights([np.array([[1.0, 0.0]], "float32"), np.zeros(2, "float32")])
    return model


@pytest.mark.parametrize(
    "margin_in_tolerances, proved",
    [(4.0, True), (0.5, False), (-0.5, False), (-4.0, False)],
)
def test_the_rounding_tolerance_on_both_sides_of_zero(margin_in_tolerances, proved):
    """Proved only when the worst margin exceeds 1e-5 of the logits' size (1 + |x| = 1.5): a margin just
    above zero is within rounding and proves nothing, one just below zero proves nothing either."""
    x = 0.5
    tolerance = 1e-5 * (1 + x)  # DESIGN's rounding unit, by hand
    eps = x - margin_in_tolerances * tolerance
    bounds = margin_bounds(_identity_margin(), np.array([[x]], "float32"), [0], eps, bounds=(-1.0, 2.0))
    assert bounds.lower[0, 1] == pytest.approx(margin_in_tolerances * tolerance, abs=1e-7)
    assert bounds.verified.tolist() == [proved]


def test_eps_as_a_fraction_of_the_range_is_taken_as_the_attacks_take_it():
    """8/255 of a [0, 255] range is 8 pixels, by hand."""
    model = _identity_margin()
    x = np.array([[100.0], [130.0]], "float32")
    as_fraction = margin_bounds(model, x, [0, 0], "8/255", bounds=(0.0, 255.0))
    in_pixels = margin_bounds(model, x, [0, 0], 8.0, bounds=(0.0, 255.0))
    np.testing.assert_array_equal(as_fraction.lower, in_pixels.lower)
    assert as_fraction.lower[:, 1].tolist() == [92.0, 122.0]
    assert exact_verify(model, x, [0, 0], "8/255", bounds=(0.0, 255.0)).status.tolist() == ["verified", "verified"]

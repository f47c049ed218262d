"""Hypothesis: every adversarial example is finite, inside the eps-ball and inside the bounds."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from robustkit.attacks import APGD, APGDT, FAB, FGSM, PGD

SLACK = 1e-6


def _dense():
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(4)])


def _conv():
    keras.utils.set_random_seed(2)
    return keras.Sequential(
        [
            keras.Input((4, 4, 2)),
            keras.layers.Conv2D(3, 2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )


def _flat_zero_gradient():
    # Constant logits: the gradient is zero everywhere, which must not produce NaN steps.
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, kernel_initializer="zeros", bias_initializer="ones")]
    )


def _conv_zero_gradient():
    return keras.Sequential(
        [keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(4, kernel_initializer="zeros")]
    )


MODELS = {"dense": _dense(), "conv": _conv(), "zero-dense": _flat_zero_gradient(), "zero-conv": _conv_zero_gradient()}
SHAPES = {"dense": (6,), "conv": (4, 4, 2), "zero-dense": (6,), "zero-conv": (4, 4, 2)}


@st.composite
def scenarios(draw):
    name = draw(st.sampled_from(sorted(MODELS)))
    shape = SHAPES[name]
    batch = draw(st.integers(1, 5))
    if draw(st.booleans()):
        low, high = draw(st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-0.5, 2.0)]))
        bounds = (low, high)
        lo_arr, hi_arr = np.full(shape, low), np.full(shape, high)
    else:  # per-feature bounds arrays (e.g. per-channel normalisation)
        lo_arr = np.asarray(draw(st.lists(st.floats(-2, 0), min_size=shape[-1], max_size=shape[-1])))
        hi_arr = lo_arr + np.asarray(draw(st.lists(st.floats(0.1, 2), min_size=shape[-1], max_size=shape[-1])))
        bounds = (lo_arr, hi_arr)
        lo_arr, hi_arr = np.broadcast_to(lo_arr, shape), np.broadcast_to(hi_arr, shape)
    unit = np.asarray(
        draw(st.lists(st.floats(0, 1), min_size=batch * int(np.prod(shape)), max_size=batch * int(np.prod(shape))))
    )
    x = (lo_arr + unit.reshape((batch,) + shape) * (hi_arr - lo_arr)).astype("float32")
    x = np.clip(x, lo_arr.astype("float32"), hi_arr.astype("float32"))
    y = np.asarray(draw(st.lists(st.integers(0, 3), min_size=batch, max_size=batch)))
    return name, x, y, bounds


attack_options = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["fgsm", "pgd", "apgd", "apgd-t", "fab"]),
        "eps": st.one_of(st.just(0.0), st.floats(1e-4, 3.0)),
        "norm": st.sampled_from(["linf", "l2", "l1"]),
        "loss": st.sampled_from(["ce", "margin", "dlr"]),
        "random_start": st.booleans(),
        "early_stop": st.booleans(),
        "targeted": st.booleans(),
        "steps": st.integers(1, 12),
        "restarts": st.integers(1, 2),
    }
)


def _make(opts, bounds, seed):
    common = dict(eps=opts["eps"], norm=opts["norm"], bounds=bounds, early_stop=opts["early_stop"], seed=seed)
    if opts["kind"] == "apgd-t":  # its own (untargeted) loss, two guide classes
        return APGDT(steps=opts["steps"], restarts=opts["restarts"], n_targets=2, **common)
    if opts["kind"] == "fab":  # minimum-norm, two target classes
        return FAB(steps=opts["steps"], restarts=opts["restarts"], n_targets=2, **common)
    if opts["targeted"]:
        common.update(target="random", loss="margin" if opts["loss"] == "dlr" else opts["loss"])
    else:
        common.update(loss=opts["loss"])
    if opts["kind"] == "apgd":  # always starts at random
        return APGD(steps=opts["steps"], restarts=opts["restarts"], **common)
    common["random_start"] = opts["random_start"]
    if opts["kind"] == "fgsm":
        return FGSM(**common)
    restarts = opts["restarts"] if opts["random_start"] else 1
    return PGD(steps=opts["steps"], restarts=restarts, **common)


def _norm(delta, norm):
    flat = delta.reshape(len(delta), -1).astype(np.float64)
    return {"linf": np.abs(flat).max(axis=1), "l2": np.linalg.norm(flat, axis=1), "l1": np.abs(flat).sum(axis=1)}[norm]


@given(scenarios(), attack_options, st.integers(0, 1000))
def test_adversarial_examples_are_finite_inside_the_ball_and_the_bounds(scenario, opts, seed):
    name, x, y, bounds = scenario
    attack = _make(opts, bounds, seed)
    result = attack.run(MODELS[name], x, y)
    x_adv = result.x_adv.numpy()
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert np.all(np.isfinite(x_adv))
    assert np.all(_norm(x_adv - x, opts["norm"]) <= opts["eps"] + SLACK)
    np.testing.assert_allclose(result.norms, _norm(x_adv - x, opts["norm"]), rtol=1e-4, atol=1e-6)
    lower, upper = (np.broadcast_to(np.asarray(b, np.float64), x.shape[1:]) for b in bounds)
    assert np.all(x_adv >= lower - SLACK) and np.all(x_adv <= upper + SLACK)
    if opts["kind"] == "fab":  # its objective is minus the smallest adversarial norm found (-inf: none)
        np.testing.assert_array_equal(result.success, result.radius <= opts["eps"])
        assert np.all(result.radius[result.success] >= result.norms[result.success] - SLACK)
    else:
        assert np.all(np.isfinite(result.loss[result.grad_evals > 0]) | (opts["eps"] == 0))
    # The call form returns the same tensor as run() for the same seed.
    again = attack(MODELS[name], x, y, seed=result.seed)
    assert isinstance(again, tf.Tensor)
    np.testing.assert_array_equal(again.numpy(), x_adv)


@given(st.sampled_from(["linf", "l2", "l1"]), st.integers(0, 2**20), st.floats(0.01, 2.0))
def test_random_starts_are_seeded(norm, seed, eps):
    model = MODELS["dense"]
    x = np.full((4, 6), 0.5, "float32")
    y = np.array([0, 1, 2, 3])
    # One step of size ~0 leaves each example at its random start.
    attack = PGD(eps=eps, steps=1, step_size=1e-9, norm=norm, random_start=True, seed=seed)
    first, second = attack(model, x, y).numpy(), attack(model, x, y).numpy()
    np.testing.assert_array_equal(first, second)
    other = PGD(eps=eps, steps=1, step_size=1e-9, norm=norm, random_start=True, seed=seed + 1)(model, x, y).numpy()
    assert not np.array_equal(first, other)
    assert np.all(_norm(first - x, norm) <= eps + SLACK)


@pytest.mark.parametrize("norm", ["linf", "l2", "l1"])
def test_random_starts_fill_the_ball(norm):
    """Random starts are spread through the ball, not stuck at its centre or surface only."""
    from robustkit.norms import get_norm
    from robustkit.row_random import example_keys

    ball = get_norm(norm)
    starts = ball.random_start(
        tf.zeros((2000, 6), tf.float64), tf.constant(1.0, tf.float64), example_keys(3, tf.range(2000))
    ).numpy()
    radii = _norm(starts, norm)
    assert radii.max() <= 1.0 + 1e-9
    # For a uniform distribution on a 6-dimensional ball, P(radius <= r) = r**6.
    assert abs(np.mean(radii <= 0.9) - 0.9**6) < 0.05

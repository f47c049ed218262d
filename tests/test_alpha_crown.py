"""alpha-CROWN: sound for every slope, never looser than CROWN, and tight where a closed form says so."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from robustkit.verify import margin_bounds
from robustkit.verify.alpha import AlphaSettings, optimized_bounds
from robustkit.verify.linear_bounds import InputRegion, crown_intervals, lower_bound
from robustkit.verify.network import network_of
from tests.relu_networks import dense_relu_network, forward64


def _region(center: np.ndarray, radius: float) -> InputRegion:
    c = tf.constant(center[None], tf.float32)
    return InputRegion(c, c - radius, c + radius, radius, "linf")


def _sampled_minimum(model, center, radius, rows, leaky=0.0, count=4000, seed=0) -> np.ndarray:
    """min over sampled points and the box's corners of every row's value (float64 forward)."""
    rng = np.random.default_rng(seed)
    points = center + rng.uniform(-radius, radius, size=(count, len(center)))
    corners = center + radius * np.array(np.meshgrid(*[[-1, 1]] * len(center))).reshape(len(center), -1).T
    outputs = forward64(model, np.concatenate([points, corners]), leaky)
    return (outputs @ rows.T).min(axis=0)


def test_a_closed_form_alpha_crown_finds_the_exact_minimum_where_crown_does_not():
    """relu(x) over x in [-1, 2]: the minimum is 0. CROWN's adaptive slope (1, since u >= -l) gives
    -1; the slope 0 gives 0, and alpha-CROWN must reach it."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="relu"), keras.layers.Dense(1)])
    model.set_weights(
        [np.ones((1, 1), "float32"), np.zeros(1, "float32"), np.ones((1, 1), "float32"), np.zeros(1, "float32")]
    )
    network = network_of(model)
    region = InputRegion(tf.constant([[0.5]]), tf.constant([[-1.0]]), tf.constant([[2.0]]), 1.5, "linf")
    spec = tf.constant([[[0.0, 1.0]]])  # the second of the two logits [0, z]
    crown = lower_bound(network, network.output, spec, crown_intervals(network, region), region)
    assert float(crown[0, 0]) == -1.0
    found = optimized_bounds(network, region, spec, AlphaSettings(iterations=40))
    assert abs(float(found.bound[0, 0])) < 1e-6


@given(st.integers(0, 10_000), st.floats(0.01, 0.5), st.sampled_from([0.0, 0.1]))
def test_alpha_crown_bounds_stay_below_every_sampled_value_and_above_crown(seed, radius, leaky):
    keras.utils.set_random_seed(seed)
    model = dense_relu_network(seed, 3, [8, 8], 4, leaky)
    center = np.random.default_rng(seed).uniform(-1, 1, 3)
    rows = np.random.default_rng(seed + 1).normal(size=(5, 4))
    network, region = network_of(model), _region(center, radius)
    spec = tf.constant(rows[None], tf.float32)
    crown = lower_bound(network, network.output, spec, crown_intervals(network, region), region).numpy()[0]
    found = optimized_bounds(network, region, spec, AlphaSettings(iterations=15, learning_rate=0.3)).bound.numpy()[0]
    truth = _sampled_minimum(model, center, radius, rows, leaky)
    scale = 1e-4 * (1 + np.abs(truth))
    assert np.all(found <= truth + scale), (found, truth)
    assert np.all(found >= crown - scale), (found, crown)


@given(st.integers(0, 10_000), st.floats(-3.0, 3.0))
def test_any_slope_even_outside_zero_one_gives_a_sound_bound(seed, slope):
    """The ReLU rule clips what it is given into [negative slope, 1]: no value of a slope variable can
    make the bound unsound, whatever the optimizer does."""
    model = dense_relu_network(seed, 2, [6], 3)
    center = np.random.default_rng(seed).uniform(-1, 1, 2)
    network, region = network_of(model), _region(center, 0.4)
    rows = np.random.default_rng(seed + 2).normal(size=(4, 3))
    relu = next(k for k, node in enumerate(network.nodes) if node.rule.relaxes_input)
    chosen = {relu: tf.fill((1, 4, *network.shapes[relu]), float(slope))}
    found = lower_bound(
        network, network.output, tf.constant(rows[None], tf.float32), crown_intervals(network, region), region, chosen
    )
    truth = _sampled_minimum(model, center, 0.4, rows)
    assert np.all(found.numpy()[0] <= truth + 1e-4 * (1 + np.abs(truth)))


def test_margin_bounds_alpha_crown_is_at_least_crown_and_best_takes_the_largest():
    model = dense_relu_network(3, 4, [16, 16], 3)
    x = np.random.default_rng(3).uniform(0.3, 0.7, size=(4, 4)).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1)
    crown = margin_bounds(model, x, y, 0.2, method="crown").lower
    alpha = margin_bounds(model, x, y, 0.2, method="alpha-crown").lower
    best = margin_bounds(model, x, y, 0.2, method="best")
    finite = np.isfinite(crown)
    assert np.all(alpha[finite] >= crown[finite] - 1e-6)
    assert np.mean(alpha[finite] > crown[finite] + 1e-4) > 0.5  # the optimization does tighten
    assert np.allclose(best.lower[finite], np.maximum(best.ibp, best.alpha)[finite])

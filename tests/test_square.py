"""Square: forward passes only, its window schedule pinned by hand, the guarantees on generated inputs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.attacks import PGD, Square
from robustkit.attacks.square_l2 import eta_pattern, window_sides_l2
from robustkit.attacks.square_windows import window_share, window_sides
from robustkit.errors import ConfigError, GradientError


def test_window_schedule_by_hand():
    # p halves after 10, 50, 200, ... of every 10,000 queries; side = round(sqrt(p * h * w)).
    assert [window_share(0.8, q, 5000) for q in (0, 5, 6, 25, 26, 100, 101)] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1]
    sides = window_sides(5000, 32)
    assert (sides[0], sides[6], sides[26], sides[101]) == (29, 20, 14, 10)  # sqrt(819.2), sqrt(409.6), ...
    # 10 queries: query 1 is 1,000 of 10,000 (p = 0.8 / 16), query 2 is 2,000 (p = 0.8 / 32).
    assert window_sides(10, 8) == [7, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    assert min(window_sides(10000, 8)) == 1 and max(window_sides(10000, 2)) == 1


class _Rounding(keras.layers.Layer):
    def call(self, x):
        return tf.round(x * 4) / 4  # no gradient through rounding


def _masked_models():
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(10)
    inputs = keras.Input((8, 8, 1))
    plain = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    stopped = keras.Model(inputs, dense(keras.layers.Flatten()(keras.layers.Lambda(tf.stop_gradient)(inputs))))
    rounded = keras.Model(inputs, dense(keras.layers.Flatten()(_Rounding()(inputs))))
    return plain, stopped, rounded


@pytest.mark.slow
def test_square_needs_no_gradient_and_sees_through_masking(digits, digits_cnn):
    x, y = digits.x_test[:60], digits.y_test[:60]
    square = Square(eps=0.15, queries=300, seed=0, early_stop=True)
    result = square.run(digits_cnn, x, y)
    assert result.total_grad_evals == 0 and result.queries.sum() > 0
    assert result.robust_accuracy < result.clean_accuracy - 0.3
    plain, stopped, rounded = _masked_models()
    with pytest.raises(GradientError):
        PGD(eps=0.15, steps=5, seed=0).run(rounded, x, y)
    on_plain = Square(eps=0.3, queries=300, seed=0, early_stop=True).run(plain, x, y)
    on_stopped = Square(eps=0.3, queries=300, seed=0, early_stop=True).run(stopped, x, y)
    np.testing.assert_array_equal(on_plain.success, on_stopped.success)  # the stop changes no forward pass
    assert Square(eps=0.3, queries=300, seed=0).run(rounded, x, y).success.any()


@pytest.mark.slow
def test_early_stopping_changes_the_work_not_the_answer(digits, digits_cnn):
    x, y = digits.x_test[:80], digits.y_test[:80]
    fixed = Square(eps=0.1, queries=200, seed=4).run(digits_cnn, x, y)
    early = Square(eps=0.1, queries=200, seed=4, early_stop=True).run(digits_cnn, x, y)
    np.testing.assert_array_equal(fixed.success, early.success)
    assert early.queries.sum() < fixed.queries.sum()


def test_l2_eta_pattern_and_window_sides_by_hand():
    # Top half: rectangles weighted 1, 1/4 around its centre; bottom half the same, negative; unit norm.
    top, bottom = np.array([0.25, 1.25, 0.25]), np.array([[0.25, 0.25, 0.25], [0.25, 1.25, 0.25]])
    expected = np.vstack([top / np.linalg.norm(top), -bottom / np.linalg.norm(bottom)]) / np.sqrt(2)
    np.testing.assert_allclose(eta_pattern(3), expected)
    assert abs(np.linalg.norm(eta_pattern(7)) - 1) < 1e-12
    # Odd sides of at least 3: round(sqrt(0.8 * 64)) = 7; at query 1 of 100 (p = 0.2) round(3.58) = 4 -> 5.
    assert window_sides_l2(100, 8, 8, 0.8)[:1] + window_sides_l2(100, 8, 8, 0.8)[1:3] == [7, 5, 5]
    assert min(window_sides_l2(10000, 8, 8, 0.8)) == 3 and max(window_sides_l2(10, 2, 2, 0.8)) == 2


@pytest.mark.slow
def test_l2_square_breaks_the_cnn_with_forward_passes_only(digits, digits_cnn):
    x, y = digits.x_test[:60], digits.y_test[:60]
    result = Square(eps=1.5, norm="l2", queries=200, seed=0, early_stop=True).run(digits_cnn, x, y)
    assert result.total_grad_evals == 0 and result.queries.sum() > 0
    assert result.robust_accuracy < result.clean_accuracy - 0.5
    assert np.all(result.norms <= 1.5 * (1 + 1e-6))


def test_bad_settings_say_what_to_fix():
    with pytest.raises(ConfigError, match="norm='linf' and norm='l2'"):
        Square(eps=1.0, norm="l1")
    with pytest.raises(ConfigError, match="p_init"):
        Square(eps=0.1, p_init=0)
    with pytest.raises(ConfigError, match="queries must be an integer >= 1, got 0"):
        Square(eps=0.1, queries=0)  # named as the user wrote it


CONV = keras.Sequential(
    [
        keras.Input((4, 4, 2)),
        keras.layers.Conv2D(3, 2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(4),
    ]
)


@pytest.mark.slow
@settings(max_examples=5)  # each attack's guarantee in every norm and dtype: test_attack_guarantees.py
@given(
    st.sampled_from(["linf", "l2"]),
    st.integers(1, 4),
    st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-0.5, 2.0)]),
    st.floats(1e-4, 3.0),  # eps = 0 is tested with every attack in test_attack_guarantees.py
    st.sampled_from([1, 2, 25]),  # each query count compiles its own graph (the window schedule is static)
    st.booleans(),
    st.integers(0, 1000),
    st.data(),
)
def test_square_examples_are_inside_the_ball_and_the_bounds(norm, batch, bounds, eps, queries, early_stop, seed, data):
    low, high = bounds
    unit = np.asarray(data.draw(st.lists(st.floats(0, 1), min_size=batch * 32, max_size=batch * 32)))
    x = (low + unit.reshape(batch, 4, 4, 2) * (high - low)).astype("float32")
    y = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=batch, max_size=batch)))
    attack = Square(eps=eps, norm=norm, queries=queries, bounds=bounds, early_stop=early_stop, seed=seed)
    result = attack.run(CONV, x, y)
    x_adv = result.x_adv.numpy()
    assert np.all(np.isfinite(x_adv))
    delta = (x_adv - x).reshape(batch, -1).astype(np.float64)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert np.all(size <= eps * (1 + 1e-6) + 1e-6)
    assert x_adv.min() >= low - 1e-6 and x_adv.max() <= high + 1e-6
    np.testing.assert_array_equal(attack(CONV, x, y, seed=seed).numpy(), x_adv)  # seeded: the same again

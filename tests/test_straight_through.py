"""BPDA: with straight_through=True, gradient attacks see through rounding and integer casts."""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from robustkit.attacks import APGD, PGD
from robustkit.errors import ConfigError, GradientError


class _Quantize(keras.layers.Layer):
    def __init__(self, kind, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind

    def call(self, x):
        if self.kind == "round":
            return tf.round(x * 16) / 16
        return tf.cast(tf.cast(x * 255, tf.int32), tf.float32) / 255  # 8-bit input quantization


def _quantized(base, kind):
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, base(_Quantize(kind)(inputs)))


@pytest.mark.parametrize("kind", ["round", "cast"])
def test_gradient_attacks_break_a_quantized_model_only_with_straight_through(digits, digits_cnn, kind):
    x, y = digits.x_test[:48], digits.y_test[:48]
    model = _quantized(digits_cnn, kind)
    with pytest.raises(GradientError):
        PGD(eps=0.15, steps=10, seed=0).run(model, x, y)
    result = APGD(eps=0.15, steps=20, seed=0, straight_through=True).run(model, x, y)
    assert result.robust_accuracy < result.clean_accuracy - 0.4  # the quantizer no longer hides the model
    # Nothing leaks out: rounding has no gradient again afterwards.
    t = tf.constant([0.3])
    with tf.GradientTape() as tape:
        tape.watch(t)
        out = tf.round(t)
    assert tape.gradient(out, t) is None


def test_a_suite_asks_for_it_and_square_refuses_it(tmp_path):
    from robustkit.evaluation.suites import load_attack_suite

    path = tmp_path / "bpda.toml"
    path.write_text('norm = "linf"\neps = [0.1]\n[[attack]]\ntype = "pgd"\nstraight_through = true\n')
    spec = load_attack_suite(str(path)).attacks[0]
    assert spec.settings(0.1)["straight_through"] is True and spec.config()["straight_through"] is True
    path.write_text('norm = "linf"\neps = [0.1]\n[[attack]]\ntype = "square"\nstraight_through = true\n')
    with pytest.raises(ConfigError, match="square uses no gradient"):
        load_attack_suite(str(path))

"""Models built to trigger the trust checks (importable as ``tests.check_models:NAME``)."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from robustkit.sources.zoo import load_zoo_model


class _Wrapped(keras.Model):
    """The zoo's digits CNN behind a transformation of its input or output."""

    def __init__(self, base, kind: str):
        super().__init__(name=f"digits_cnn_{kind}")
        self.base = base
        self.kind = kind
        self.dropout = keras.layers.Dropout(0.5)

    def call(self, x, training=False):
        if self.kind == "straight-through-rounding":
            # Forward: inputs rounded to 4 levels; backward: the identity (a BPDA-style lie).
            x = x + tf.stop_gradient(tf.round(x * 4.0) / 4.0 - x)
        if self.kind == "zero-gradient-quantizer":
            # The input reaches the model only through a quantizer whose gradient is zero.
            x = x * 0.0 + tf.stop_gradient(tf.round(x * 8.0) / 8.0)
        logits = self.base(x, training=False)
        if self.kind == "hot-softmax":
            return tf.nn.softmax(1000.0 * logits)
        if self.kind == "dropout-on":
            return self.dropout(logits, training=True)
        return logits


def variant(kind: str) -> keras.Model:
    return _Wrapped(load_zoo_model("digits-cnn"), kind)


def hot_softmax():
    return variant("hot-softmax")


def straight_through_rounding():
    return variant("straight-through-rounding")


def zero_gradient_quantizer():
    return variant("zero-gradient-quantizer")


def dropout_on():
    return variant("dropout-on")


def gate_model():
    """The model under the gate, chosen by ROBUSTKIT_GATE_VARIANT: healthy, weakened or masked."""
    choice = os.environ.get("ROBUSTKIT_GATE_VARIANT", "healthy")
    if choice == "weakened":
        return load_zoo_model("digits-mlp")  # the same slot, a much less robust network
    if choice == "masked":
        return zero_gradient_quantizer()
    return load_zoo_model("digits-cnn")


def stopped_input():
    """The CNN with tf.stop_gradient on its input: the same outputs, no input gradient at all."""
    base = load_zoo_model("digits-cnn")
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, base(keras.layers.Lambda(tf.stop_gradient)(inputs)))


def rounded_input():
    """The CNN on inputs rounded to 16 grey levels: no input gradient (rounding has none)."""
    base = load_zoo_model("digits-cnn")
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, base(keras.layers.Lambda(lambda x: tf.round(x * 16) / 16)(inputs)))


class _NearestMean(keras.layers.Layer):
    """Logits: minus the squared distance to each class's mean image (scaled)."""

    def __init__(self, means, **kwargs):
        super().__init__(**kwargs)
        self.means = tf.constant(means, tf.float32)

    def call(self, x):
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        return -8.0 * tf.reduce_sum(tf.square(flat[:, None, :] - self.means[None]), axis=-1)


def nearest_mean():
    """A nearest-class-mean digits classifier (90% test accuracy) whose every operation works within
    one example (elementwise, or a reduction over that example's features), so TensorFlow computes
    each example's logits and input gradient bit for bit the same in any batch. The zoo's dense and
    convolutional kernels do not: their rounding depends on the batch size."""
    return _mean_classifier(_NearestMean, "nearest_mean")


def _mean_classifier(layer, name: str) -> keras.Model:
    """``layer`` over the digits training set's class means, on 8x8x1 inputs."""
    from robustkit.sources.data import load_digits_split

    data = load_digits_split()
    flat = data.x_train.reshape(len(data.x_train), -1)
    means = np.stack([flat[data.y_train == k].mean(axis=0) for k in range(10)]).astype("float32")
    inputs = keras.Input(data.x_train.shape[1:])
    return keras.Model(inputs, layer(means)(inputs), name=name)


class _WavyMean(_NearestMean):
    """Nearest class mean after an elementwise wave: class boundaries that curve, so that searches from
    different random starts end in different places (64 features per example fill whole SIMD packets,
    so the sine is computed alike in any batch)."""

    def call(self, x):
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        wave = flat + 0.15 * tf.sin(12.0 * flat)
        means = self.means + 0.15 * tf.sin(12.0 * self.means)
        return -8.0 * tf.reduce_sum(tf.square(wave[:, None, :] - means[None]), axis=-1)


def wavy_mean():
    """:func:`nearest_mean` with curved class boundaries: random starts and restarts change its answers."""
    return _mean_classifier(_WavyMean, "wavy_mean")

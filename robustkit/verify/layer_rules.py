"""Each supported Keras layer type's bound rules, one class per type, registered by Keras class.

A :class:`LayerRule` names the Keras classes it covers and turns one such layer into the
:class:`~robustkit.verify.rules.BoundRule` of each node (a Dense or Conv layer with an activation
gives two). :func:`rule_for` finds a layer's rule by its class's method resolution order, so a
subclass of Dense is a Dense unless a rule is registered for the subclass itself; a new layer type
is one class added to :data:`LAYER_RULES`. A subclass that changes what the layer computes is
caught when the network is built (:mod:`robustkit.verify.network` compares the rule with the
layer's own call).

Example:
    >>> import keras
    >>> class Scaled(keras.layers.Dense):  # a subclass: bounded as a Dense
    ...     pass
    >>> type(rule_for(Scaled(2))).__name__, type(rule_for(keras.layers.Flatten())).__name__
    ('DenseRule', 'ShapeRule')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import keras
import tensorflow as tf

from robustkit.errors import ModelError
from robustkit.verify.rules import AddRule, AffineRule, BoundRule, MonotoneRule, ReluRule

# Elementwise activations that never decrease: their interval is [f(lower), f(upper)].
MONOTONE_ACTIVATIONS = frozenset(
    ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus"]
    + ["softsign", "exponential", "hard_tanh"]
)


def unsupported(layer: Any, why: str = "") -> ModelError:
    """The error for a layer bounds cannot pass, naming what can."""
    supported = ", ".join(rule.covers for rule in LAYER_RULES)
    return ModelError(
        f"Bounds cannot be propagated through layer {layer.name!r} ({type(layer).__name__}){why}. "
        f"Supported layers: {supported}, Softmax (last only). Evaluate this model with attacks, or with "
        "randomized smoothing, which work with any model."
    )


def _reader(layer: Any, name: str) -> Callable[[], tf.Tensor | None]:
    """Reads a layer's variable when called, so that a network stays current as its model trains (and a
    compiled function reads it at every call)."""
    variable = getattr(layer, name, None)
    return lambda: None if variable is None else tf.convert_to_tensor(variable)


def activation_rule(layer: Any, fn: Any) -> BoundRule:
    """The rule of an elementwise activation function, or an error if it can decrease."""
    name = getattr(fn, "__name__", type(fn).__name__)
    if name not in MONOTONE_ACTIVATIONS:
        raise unsupported(layer, f": its activation {name!r} is not monotone")
    return ReluRule(layer.name, 0.0, fn) if name == "relu" else MonotoneRule(layer.name, fn)


class LayerRule:
    """The bound rules of the Keras layer classes in ``keras_classes``."""

    keras_classes: ClassVar[tuple[type, ...]] = ()
    covers: ClassVar[str] = ""  # the supported layers, as the error message lists them

    def rules(self, layer: Any) -> list[BoundRule]:
        """The rule of each node the layer becomes, in order."""
        raise NotImplementedError


class LinearWithActivation(LayerRule):
    """A linear layer whose activation, if any, is a second node."""

    def linear(self, layer: Any) -> AffineRule:
        raise NotImplementedError

    def rules(self, layer: Any) -> list[BoundRule]:
        found: list[BoundRule] = [self.linear(layer)]
        activation = getattr(layer, "activation", None)
        if activation is not None and getattr(activation, "__name__", "") != "linear":
            found.append(activation_rule(layer, activation))
        return found


class DenseRule(LinearWithActivation):
    keras_classes = (keras.layers.Dense,)
    covers = "Dense"

    def linear(self, layer: Any) -> AffineRule:
        kernel, bias = _reader(layer, "kernel"), _reader(layer, "bias")

        def apply(x: tf.Tensor) -> tf.Tensor:
            out = tf.tensordot(x, kernel(), axes=[[x.shape.rank - 1], [0]])
            offset = bias()
            return out if offset is None else out + offset

        def abs_linear(r: tf.Tensor) -> tf.Tensor:
            return tf.tensordot(r, tf.abs(kernel()), axes=[[r.shape.rank - 1], [0]])

        return AffineRule(layer.name, apply, abs_linear)


class ConvRule(LinearWithActivation):
    keras_classes = (keras.layers.Conv1D, keras.layers.Conv2D)
    covers = "Conv1D, Conv2D"

    def linear(self, layer: Any) -> AffineRule:
        if getattr(layer, "data_format", "channels_last") != "channels_last" or getattr(layer, "groups", 1) != 1:
            raise unsupported(layer, " with channels_first data or groups")
        if layer.padding not in ("valid", "same"):
            raise unsupported(layer, f" with padding {layer.padding!r}")
        kernel, bias = _reader(layer, "kernel"), _reader(layer, "bias")
        settings = {"strides": layer.strides, "padding": layer.padding.upper(), "dilations": layer.dilation_rate}

        def apply(x: tf.Tensor) -> tf.Tensor:
            out = tf.nn.convolution(x, kernel(), **settings)
            offset = bias()
            return out if offset is None else out + offset

        return AffineRule(layer.name, apply, lambda r: tf.nn.convolution(r, tf.abs(kernel()), **settings))


class BatchNormRule(LayerRule):
    keras_classes = (keras.layers.BatchNormalization,)
    covers = "BatchNormalization"

    def rules(self, layer: Any) -> list[BoundRule]:
        mean, variance = _reader(layer, "moving_mean"), _reader(layer, "moving_variance")
        gamma, beta = _reader(layer, "gamma"), _reader(layer, "beta")

        def scale_and_shift(rank: int) -> tuple[tf.Tensor, tf.Tensor]:
            scale = tf.math.rsqrt(variance() + layer.epsilon)
            if layer.scale:
                scale = scale * gamma()
            shift = (beta() if layer.center else 0.0) - mean() * scale
            axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
            shape = [1] * rank
            shape[axis] = -1
            return tf.reshape(scale, shape), tf.reshape(shift, shape)

        def apply(x: tf.Tensor) -> tf.Tensor:
            scale, shift = scale_and_shift(x.shape.rank)
            return x * scale + shift

        return [AffineRule(layer.name, apply, lambda r: r * tf.abs(scale_and_shift(r.shape.rank)[0]))]


class RescalingRule(LayerRule):
    keras_classes = (keras.layers.Rescaling,)
    covers = "Rescaling"

    def rules(self, layer: Any) -> list[BoundRule]:
        scale, offset = tf.constant(layer.scale, tf.float32), tf.constant(layer.offset, tf.float32)
        return [AffineRule(layer.name, lambda x: x * scale + offset, lambda r: r * tf.abs(scale))]


class NormalizationRule(LayerRule):
    keras_classes = (keras.layers.Normalization,)
    covers = "Normalization"

    def rules(self, layer: Any) -> list[BoundRule]:
        if getattr(layer, "invert", False):
            raise unsupported(layer, " with invert=True")
        mean, variance = _reader(layer, "mean"), _reader(layer, "variance")

        def spread() -> tf.Tensor:
            return tf.maximum(tf.sqrt(variance()), keras.config.epsilon())

        return [AffineRule(layer.name, lambda x: (x - mean()) / spread(), lambda r: r / spread())]


class IdentityRule(LayerRule):
    """Layers that are the identity at inference."""

    keras_classes = (
        keras.layers.Dropout,
        keras.layers.SpatialDropout1D,
        keras.layers.SpatialDropout2D,
        keras.layers.SpatialDropout3D,
        keras.layers.GaussianNoise,
        keras.layers.GaussianDropout,
        keras.layers.AlphaDropout,
        keras.layers.ActivityRegularization,
        keras.layers.Identity,
    )
    covers = "Dropout (and its kin), GaussianNoise"

    def rules(self, layer: Any) -> list[BoundRule]:
        return [AffineRule(layer.name, tf.identity, tf.identity)]


class ShapeRule(LayerRule):
    """Linear maps with non-negative weights (reshaping, averaging, padding): the layer also maps radii."""

    keras_classes = (
        keras.layers.Flatten,
        keras.layers.Reshape,
        keras.layers.AveragePooling1D,
        keras.layers.AveragePooling2D,
        keras.layers.GlobalAveragePooling1D,
        keras.layers.GlobalAveragePooling2D,
        keras.layers.ZeroPadding1D,
        keras.layers.ZeroPadding2D,
        keras.layers.Cropping1D,
        keras.layers.Cropping2D,
        keras.layers.Permute,
    )
    covers = "Flatten, Reshape, Permute, AveragePooling1D/2D, GlobalAveragePooling1D/2D, ZeroPadding, Cropping"

    def rules(self, layer: Any) -> list[BoundRule]:
        return [AffineRule(layer.name, lambda x: layer(x), lambda r: layer(r))]


class MaxPoolingRule(LayerRule):
    keras_classes = (
        keras.layers.MaxPooling1D,
        keras.layers.MaxPooling2D,
        keras.layers.GlobalMaxPooling1D,
        keras.layers.GlobalMaxPooling2D,
    )
    covers = "MaxPooling1D/2D, GlobalMaxPooling1D/2D"

    def rules(self, layer: Any) -> list[BoundRule]:
        return [MonotoneRule(layer.name, lambda x: layer(x), "maxpool")]


class AddLayerRule(LayerRule):
    keras_classes = (keras.layers.Add,)
    covers = "Add"

    def rules(self, layer: Any) -> list[BoundRule]:
        return [AddRule(layer.name)]


class ActivationLayerRule(LayerRule):
    keras_classes = (keras.layers.Activation,)
    covers = "Activation"

    def rules(self, layer: Any) -> list[BoundRule]:
        return [activation_rule(layer, layer.activation)]


class ReluLayerRule(LayerRule):
    """ReLU and LeakyReLU layers: piecewise linear where they are ``max(x, slope x)`` with a slope in
    [0, 1], else (a capped ReLU, a threshold, a slope above 1) only monotone."""

    keras_classes = (keras.layers.ReLU, keras.layers.LeakyReLU)
    covers = "ReLU, LeakyReLU"

    def rules(self, layer: Any) -> list[BoundRule]:
        plain = isinstance(layer, keras.layers.LeakyReLU) or (layer.max_value is None and not layer.threshold)
        slope = float(layer.negative_slope)
        if slope < 0:
            raise unsupported(layer, " with a negative slope")
        if plain and slope <= 1:  # above slope 1 it is concave: the (convex) ReLU relaxation would not bound it
            return [ReluRule(layer.name, slope, lambda x: layer(x))]
        return [MonotoneRule(layer.name, lambda x: layer(x))]


class EluRule(LayerRule):
    keras_classes = (keras.layers.ELU,)
    covers = "ELU"

    def rules(self, layer: Any) -> list[BoundRule]:
        if float(layer.alpha) < 0:
            raise unsupported(layer, " with a negative alpha")
        return [MonotoneRule(layer.name, lambda x: layer(x))]


LAYER_RULES: list[LayerRule] = [
    DenseRule(),
    ConvRule(),
    BatchNormRule(),
    RescalingRule(),
    NormalizationRule(),
    IdentityRule(),
    ShapeRule(),
    MaxPoolingRule(),
    AddLayerRule(),
    ActivationLayerRule(),
    ReluLayerRule(),
    EluRule(),
]


def rule_for(layer: Any) -> LayerRule:
    """The rule registered for the nearest class in the layer's method resolution order, or an error."""
    by_class = {cls: rule for rule in LAYER_RULES for cls in rule.keras_classes}
    for cls in type(layer).__mro__:
        if cls in by_class:
            return by_class[cls]
    raise unsupported(layer)

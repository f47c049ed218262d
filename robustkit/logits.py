"""A logits view of a model: robustkit attacks and differentiates logits, never probabilities.

Softmax outputs saturate: once a probability rounds to 1, its gradient vanishes and an attack
stalls, which makes a model look robust when it is not. :func:`as_logits` finds the logits of a
model that ends in a softmax and returns a callable that produces them.

A binary classifier with one output (``Dense(1, activation="sigmoid")``, or one logit ``z``) is read
as two classes with logits ``[0, z]``: class 1 wins exactly when ``sigmoid(z) > 1/2``, the softmax of
``[0, z]`` is ``[1 - sigmoid(z), sigmoid(z)]``, and labels 0 and 1 mean what they meant. Every kind of
evaluation sees those two logits.

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    >>> view = as_logits(model)  # warns once: the softmax is bypassed
    >>> view.source
    'softmax-activation'
"""

from __future__ import annotations

import contextlib
import threading
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

from robustkit._backend import ensure_tensorflow_backend
from robustkit.errors import InputError, ModelError, RobustkitWarning

_SWAP_LOCK = threading.RLock()
_VIEWS: weakref.WeakKeyDictionary[Any, LogitsView] = weakref.WeakKeyDictionary()
_WARNED: weakref.WeakSet[Any] = weakref.WeakSet()
_PROBED: weakref.WeakSet[Any] = weakref.WeakSet()


def logits_of_output(view: LogitsView, out: tf.Tensor) -> tf.Tensor:
    """The logits of a model output that was computed already (training computes it once for the loss too).

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
        >>> logits_of_output(as_logits(model), tf.constant([[0.5]])).numpy().tolist()
        [[0.0, 0.0]]
    """
    tiny = 1e-12
    if view.source in ("logits", "one-logit"):
        return two_logits(out) if view.binary else out
    if view.binary:
        return two_logits(tf.math.log(tf.maximum(out, tiny)) - tf.math.log(tf.maximum(1 - out, tiny)))
    return tf.math.log(tf.maximum(out, tiny))


def default_loss(view: LogitsView) -> keras.losses.Loss:
    """The cross-entropy that matches the model's output: binary on one output (a sigmoid's or a logit),
    sparse categorical otherwise (on logits, or on a softmax's probabilities)."""
    if view.binary:
        return keras.losses.BinaryCrossentropy(from_logits=view.source == "one-logit")
    return keras.losses.SparseCategoricalCrossentropy(from_logits=view.source == "logits")


def _is_softmax(activation: Any) -> bool:
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


def _is_sigmoid(activation: Any) -> bool:
    return activation is keras.activations.sigmoid or getattr(activation, "__name__", "") == "sigmoid"


# How a one-output binary classifier's logit z is read: it becomes the two logits [0, z].
BINARY_SOURCES = ("sigmoid-layer", "sigmoid-activation", "one-logit", "sigmoid-probability")


def two_logits(z: tf.Tensor) -> tf.Tensor:
    """``(batch, 1)`` logits ``z`` of class 1 as the two logits ``[0, z]`` of classes 0 and 1.

    Example:
        >>> two_logits(tf.constant([[2.0], [-1.0]])).numpy().tolist()
        [[0.0, 2.0], [0.0, -1.0]]
    """
    return tf.concat([tf.zeros_like(z), z], axis=-1)


def _output_layer(model: Any) -> Any | None:
    """The layer that produces the (single) output of a Sequential or functional model."""
    outputs = getattr(model, "outputs", None)
    if not isinstance(model, keras.Model) or not outputs or len(outputs) != 1:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    return getattr(history, "operation", None)


@contextlib.contextmanager
def _linear_activation(layer: Any):
    """Run ``layer`` without its activation; the variables stay shared with the model."""
    with _SWAP_LOCK:
        saved = layer.activation
        layer.activation = keras.activations.linear
        try:
            yield
        finally:
            layer.activation = saved


@dataclass
class LogitsView:
    """Callable that maps inputs to logits, always in inference mode (``training=False``).

    Attributes:
        model: the wrapped model or callable.
        source: how the logits are obtained: ``"logits"`` (the model's own output),
            ``"softmax-layer"`` (the input of a final Softmax/Activation layer),
            ``"softmax-activation"`` (the final layer run without its softmax),
            ``"log-probabilities"`` (log of an output that sums to one; exact up to a per-example
            constant, which no robustkit loss depends on), or, for a binary classifier with one
            output, ``[0, z]`` from its logit z: ``"sigmoid-layer"``, ``"sigmoid-activation"`` (as for
            a softmax), ``"one-logit"`` (the output is z) or ``"sigmoid-probability"`` (z is the
            log-odds of an output in [0, 1]).
    """

    model: Any
    source: str = "logits"
    _inner: Any = field(default=None, repr=False)  # the model up to its softmax layer
    _head: Any = field(default=None, repr=False)

    @property
    def binary(self) -> bool:
        """Whether the model has one output, read as the two logits ``[0, z]``."""
        return self.source in BINARY_SOURCES

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        if self.source in ("softmax-layer", "sigmoid-layer"):
            out = self._inner(x, training=False)
        elif self.source in ("softmax-activation", "sigmoid-activation"):
            with _linear_activation(self._head):
                out = _call_model(self.model, x)
        else:
            out = _call_model(self.model, x)
        if out.dtype in (tf.float16, tf.bfloat16):  # mixed precision: losses and steps are computed in float32
            out = tf.cast(out, tf.float32)
        if self.source == "log-probabilities":
            tiny = tf.constant(1e-30 if out.dtype == tf.float64 else 1e-37, out.dtype)
            return tf.math.log(tf.maximum(out, tiny))
        if self.source == "sigmoid-probability":
            tiny = tf.constant(1e-30 if out.dtype == tf.float64 else 1e-37, out.dtype)
            out = tf.math.log(tf.maximum(out, tiny)) - tf.math.log(tf.maximum(1 - out, tiny))
        return two_logits(out) if self.binary else out


def _call_model(model: Any, x: tf.Tensor) -> tf.Tensor:
    if isinstance(model, keras.layers.Layer):
        out = model(x, training=False)
    else:
        out = model(x)
    if isinstance(out, (list, tuple)) or isinstance(out, dict):
        raise ModelError(
            "The model returns several outputs; robustkit needs one logits tensor. Choose it by name "
            "(--output NAME, or model.keras?output=NAME), or wrap it: keras.Model(model.inputs, model.outputs[0])."
        )
    return out


def _structural_view(model: Any) -> LogitsView | None:
    layer = _output_layer(model)
    if layer is None:
        return None
    is_softmax_layer = isinstance(layer, keras.layers.Softmax) or (
        isinstance(layer, keras.layers.Activation) and _is_softmax(layer.activation)
    )
    if is_softmax_layer:
        inner = keras.Model(model.inputs, layer.input, name=f"{model.name}_logits")
        return LogitsView(model, "softmax-layer", _inner=inner)
    if _is_softmax(getattr(layer, "activation", None)):
        return LogitsView(model, "softmax-activation", _head=layer)
    if tuple(model.outputs[0].shape[1:]) != (1,):
        return None
    if isinstance(layer, keras.layers.Activation) and _is_sigmoid(layer.activation):
        inner = keras.Model(model.inputs, layer.input, name=f"{model.name}_logit")
        return LogitsView(model, "sigmoid-layer", _inner=inner)
    if _is_sigmoid(getattr(layer, "activation", None)):
        return LogitsView(model, "sigmoid-activation", _head=layer)
    return LogitsView(model, "one-logit")


def _warn_once(model: Any, message: str) -> None:
    try:
        if model in _WARNED:
            return
        _WARNED.add(model)
    except TypeError:  # not weak-referenceable: warn every time rather than never
        pass
    warnings.warn(message, RobustkitWarning, stacklevel=4)


def looks_like_probabilities(outputs: tf.Tensor, tolerance: float = 1e-3) -> bool:
    """True when every row is non-negative and sums to one (a softmax output)."""
    if outputs.shape.rank != 2 or outputs.shape[-1] is None or outputs.shape[-1] < 2:
        return False
    values = tf.cast(outputs, tf.float64)
    non_negative = bool(tf.reduce_all(values >= -1e-7))
    sums_to_one = bool(tf.reduce_all(tf.abs(tf.reduce_sum(values, axis=-1) - 1.0) <= tolerance))
    return non_negative and sums_to_one


def as_logits(model: Any, x_sample: Any | None = None) -> LogitsView:
    """Return a callable producing the logits of ``model`` (cached per model).

    Args:
        model: a Keras model or layer, or any callable mapping a batch to scores.
        x_sample: optional batch used to recognise a softmax that is not visible in the model's
            structure (outputs that are non-negative and sum to one).

    Returns:
        A :class:`LogitsView`. When the model ends in a softmax, a :class:`RobustkitWarning`
        says so once per model.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> as_logits(model).source
        'logits'
    """
    ensure_tensorflow_backend()
    if isinstance(model, LogitsView):
        return model
    if not callable(model):
        raise ModelError(f"Expected a Keras model or a callable, got {type(model).__name__}.")
    try:
        view = _VIEWS.get(model)
    except TypeError:
        view = None
    if view is None:
        view = _structural_view(model) or LogitsView(model, "logits")
        if view.binary:
            _warn_once(
                model,
                f"The model has one output ({view.source}): robustkit reads it as a binary classifier with "
                "the two logits [0, z], z its logit (before any sigmoid); labels 0 and 1 keep their meaning.",
            )
        elif view.source != "logits":
            _warn_once(
                model,
                f"The model ends in a softmax ({view.source}); robustkit attacks and "
                "differentiates its logits instead, because softmax outputs saturate and hide "
                "gradients. Robust accuracy is unchanged by this (argmax is the same).",
            )
        try:
            _VIEWS[model] = view
        except TypeError:
            pass
    if view.source == "logits" and x_sample is not None:
        try:
            if model in _PROBED:
                return view
            _PROBED.add(model)
        except TypeError:
            pass
        view = _probed_view(model, _call_model(model, x_sample)) or view
    return view


def _probed_view(model: Any, out: tf.Tensor) -> LogitsView | None:
    """What a model's outputs on a sample show that its structure did not: one output (a binary classifier's
    logit or probability) or probabilities; None when they look like logits. Cached, and said once."""
    if out.shape.rank == 2 and out.shape[-1] == 1:
        in_unit = bool(tf.reduce_all((out >= 0) & (out <= 1)))
        view = LogitsView(model, "sigmoid-probability" if in_unit else "one-logit")
        what = "the log-odds of its output, a probability in [0, 1]" if in_unit else "its output"
        message = (
            f"The model has one output: robustkit reads it as a binary classifier with the two logits [0, z], z "
            f"{what}; labels 0 and 1 keep their meaning."
        )
    elif looks_like_probabilities(out):
        view = LogitsView(model, "log-probabilities")
        message = (
            "The model's outputs are non-negative and sum to one: it returns probabilities. robustkit uses their "
            "logarithm as logits, which works until probabilities underflow; for exact gradients return logits "
            "from the model (e.g. drop the final softmax)."
        )
    else:
        return None
    _warn_once(model, message)
    try:
        _VIEWS[model] = view
    except TypeError:
        pass
    return view


def num_classes_of(view: LogitsView, x: tf.Tensor) -> int:
    """Number of classes, from the model's output shape (or one forward pass if unknown); 2 for one output."""
    if view.binary:
        return 2
    shape = getattr(view.model, "output_shape", None)
    if isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[-1], int):
        return int(shape[-1])
    out = view(x[:1])
    if out.shape.rank != 2:
        raise InputError(
            f"The model returns shape {tuple(out.shape)}; classification attacks need logits "
            "of shape (batch, num_classes)."
        )
    return int(out.shape[-1])

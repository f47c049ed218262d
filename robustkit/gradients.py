"""Input gradients: the core every other part of robustkit computes with.

All functions take numpy arrays or tensors and return tensors with the shape and dtype of
``x``. Each runs as a compiled ``tf.function`` that is traced once per (model, options, input
signature) and cached, so repeated calls with the same shapes and dtypes do not retrace.

Example:
    >>> import keras, numpy as np
    >>> layer = keras.layers.Dense(10, activation="relu", kernel_initializer="ones")
    >>> output_gradient(layer, np.array([[1.0, 2.0, 3.0]], dtype="float32")).numpy().tolist()
    [[10.0, 10.0, 10.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from robustkit._backend import ensure_tensorflow_backend
from robustkit.errors import ConfigError, GradientError, InputError, LabelError, ModelError
from robustkit.inputs import as_float_tensor, as_int_labels
from robustkit.logits import LogitsView, as_logits, num_classes_of
from robustkit.losses import attack_objective, min_classes, validate_loss
from robustkit.tape import call_raw, none_gradient_error, objective_and_gradient, validate_input_shape
from robustkit.tracing import compiled, note_trace, trace_count

__all__ = [
    "output_gradient",
    "loss_gradient",
    "loss_and_gradient",
    "jacobian",
    "hessian_vector_product",
    "saliency",
    "trace_count",
    "vector_jacobian_product",
]


def _traced_call(fn: Callable, f: Any, x: tf.Tensor, *args: Any):
    validate_input_shape(f, x)
    try:
        return fn(x, *args)
    except (ConfigError, GradientError, InputError, LabelError, ModelError):
        raise
    except (ValueError, TypeError) as err:
        if "shape" in str(err).lower() or "incompatible" in str(err).lower():
            raise InputError(
                f"The model could not be called on x of shape {tuple(x.shape)} and dtype "
                f"{x.dtype.name}: {str(err).splitlines()[0]} Reshape or cast x to what the model "
                "expects."
            ) from err
        raise


def output_gradient(f: Any, x: Any, output_index: int | None = None) -> tf.Tensor:
    """Gradient of ``sum(f(x)[..., output_index])`` with respect to ``x``.

    This is what ``tape.gradient(f(x), x)`` returns in plain TensorFlow (the sum over all outputs
    when ``output_index`` is None).

    Args:
        f: a Keras model or layer (called with ``training=False``) or any differentiable callable.
        x: the input, a number, numpy array or tensor of a floating dtype.
        output_index: the index of the last output axis to differentiate, or None for all.

    Returns:
        A tensor with the shape and dtype of ``x``.

    Example:
        >>> import tensorflow as tf
        >>> w, b = tf.Variable(2.0), tf.Variable(1.0)
        >>> float(output_gradient(lambda x: w * x + b, 3.0))
        2.0
    """
    ensure_tensorflow_backend()
    x = as_float_tensor(x)

    def build():
        def body(x):
            note_trace()
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = call_raw(f, x)
                if output_index is not None:
                    out = out[..., output_index]
                total = tf.reduce_sum(out)
            grad = tape.gradient(total, x)
            if grad is None:
                raise none_gradient_error("the output")
            return grad

        return body

    return _traced_call(compiled(f, ("output", output_index), build), f, x)


def _prepare_classification(model: Any, x: Any, y: Any, loss: str, targeted: bool):
    ensure_tensorflow_backend()
    x = as_float_tensor(x)
    if x.shape.rank is None or x.shape.rank < 1:
        raise InputError("x must have a leading batch axis, e.g. shape (batch, features).")
    validate_input_shape(model, x)
    view = as_logits(model, x_sample=x[:8])
    num_classes = num_classes_of(view, x)
    loss = validate_loss(loss, targeted)
    if num_classes < min_classes(loss):
        raise ConfigError(f"loss={loss!r} needs at least {min_classes(loss)} classes; the model has {num_classes}.")
    labels = as_int_labels(y, num_classes, int(x.shape[0]), name="targets" if targeted else "y")
    return view, x, labels, loss


def loss_and_gradient(
    model: Any, x: Any, y: Any, loss: str = "ce", targeted: bool = False
) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-example attack objective and its gradient with respect to ``x``.

    The objective is the one an attack increases (see :mod:`robustkit.losses`): the loss with
    the true labels ``y`` when untargeted, minus the loss with target labels ``y`` when targeted.

    Args:
        model: a Keras classifier or callable returning logits (softmax outputs are bypassed).
        x: a batch of floating inputs.
        y: integer labels of shape ``(batch,)`` or one-hot rows.
        loss: ``"ce"``, ``"margin"`` (Carlini-Wagner) or ``"dlr"``.
        targeted: if True, ``y`` holds target labels.

    Returns:
        ``(objective, gradient)``: shapes ``(batch,)`` and ``x.shape``.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> value, grad = loss_and_gradient(model, np.ones((2, 4), "float32"), [0, 1])
        >>> value.shape, grad.shape
        (TensorShape([2]), TensorShape([2, 4]))
    """
    view, x, labels, loss = _prepare_classification(model, x, y, loss, targeted)

    def build():
        def body(x, labels):
            note_trace()
            objective, grad, _ = objective_and_gradient(view, x, labels, loss, targeted)
            return objective, grad

        return body

    fn = compiled(view.model, ("loss", view.source, loss, targeted), build)
    return _traced_call(fn, view, x, labels)


def loss_gradient(model: Any, x: Any, y: Any, loss: str = "ce", targeted: bool = False) -> tf.Tensor:
    """Gradient of the per-example attack objective with respect to ``x``.

    Args:
        model, x, y, loss, targeted: as for :func:`loss_and_gradient`.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> loss_gradient(model, np.ones((2, 4), "float32"), [0, 1], loss="margin").shape
        TensorShape([2, 4])
    """
    return loss_and_gradient(model, x, y, loss=loss, targeted=targeted)[1]


def jacobian(f: Any, x: Any) -> tf.Tensor:
    """Per-example Jacobian of ``f`` at ``x``: shape ``(batch, *output_shape, *input_shape[1:])``.

    ``output_shape`` is the shape of one example's output (without the batch axis).

    Args:
        f: a Keras model or layer, or any differentiable callable on a batch.
        x: the batch of floating inputs.

    Example:
        >>> import keras, numpy as np
        >>> layer = keras.layers.Dense(2, kernel_initializer="ones")
        >>> jacobian(layer, np.ones((3, 4), "float32")).shape
        TensorShape([3, 2, 4])
    """
    ensure_tensorflow_backend()
    x = as_float_tensor(x)

    def build():
        def body(x):
            note_trace()
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                out = call_raw(f, x)
                total = tf.reduce_sum(out)
            if tape.gradient(total, x) is None:
                raise none_gradient_error("the output")
            return tape.batch_jacobian(out, x)

        return body

    return _traced_call(compiled(f, ("jacobian",), build), f, x)


def vector_jacobian_product(f: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
    """``v`` times the Jacobian of ``f`` at ``x``, example by example: the gradient of ``sum(v * f(x))``.

    A plain function for use inside compiled code (bound propagation carries linear bounds backward
    through a network with it): ``v`` has ``f(x)``'s shape and the result has ``x``'s.

    Example:
        >>> import tensorflow as tf
        >>> vector_jacobian_product(lambda x: 3.0 * x, tf.ones((1, 2)), tf.constant([[1.0, -1.0]])).numpy().tolist()
        [[3.0, -3.0]]
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = f(x)
    gradient = tape.gradient(out, x, output_gradients=v)
    return tf.zeros_like(x) if gradient is None else gradient


def hessian_vector_product(
    f_or_model: Any,
    x: Any,
    v: Any,
    y: Any | None = None,
    loss: str = "ce",
    targeted: bool = False,
) -> tf.Tensor:
    """Exact Hessian-vector product ``H v`` with nested gradient tapes.

    Without ``y`` the Hessian is that of ``sum(f(x))``; with labels ``y`` it is that of the summed
    attack objective (``loss`` on the logits). Both are per example, since examples are
    independent.

    Args:
        f_or_model: a callable on a batch, or a classifier when ``y`` is given.
        x: the batch of floating inputs.
        v: the direction, shaped like ``x``.
        y, loss, targeted: labels and the objective's loss, as for :func:`loss_and_gradient`.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0, 2.0]], "float64")
        >>> hessian_vector_product(lambda t: t ** 3, x, np.ones_like(x)).numpy().tolist()
        [[6.0, 12.0]]
    """
    ensure_tensorflow_backend()
    if y is None:
        target = f_or_model
        x = as_float_tensor(x)
        labels = None
    else:
        target, x, labels, loss = _prepare_classification(f_or_model, x, y, loss, targeted)
    v = as_float_tensor(v, name="v")
    if tuple(v.shape) != tuple(x.shape):
        raise InputError(f"v has shape {tuple(v.shape)}; it must have x's shape {tuple(x.shape)}.")
    v = tf.cast(v, x.dtype)

    def build():
        def body(x, v, *maybe_labels):
            note_trace()
            with tf.GradientTape() as outer:
                outer.watch(x)
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    if maybe_labels:
                        logits = target(x)
                        scalar = tf.reduce_sum(attack_objective(loss, logits, maybe_labels[0], targeted))
                    else:
                        scalar = tf.reduce_sum(call_raw(target, x))
                grad = inner.gradient(scalar, x)
                if grad is None:
                    raise none_gradient_error("the output")
                directional = tf.reduce_sum(grad * v)
            hvp = outer.gradient(directional, x)
            # A function that is linear in x has a Hessian of zero, which tapes report as None.
            return tf.zeros_like(x) if hvp is None else hvp

        return body

    owner = target.model if isinstance(target, LogitsView) else target
    key = ("hvp", getattr(target, "source", None), loss if labels is not None else None, targeted)
    fn = compiled(owner, key, build)
    args = (v,) if labels is None else (v, labels)
    return _traced_call(fn, target, x, *args)


def saliency(model: Any, x: Any, class_index: Any | None = None) -> tf.Tensor:
    """Saliency map ``|d logit_c / dx|`` (Simonyan et al., 2014).

    Args:
        model: a classifier (softmax outputs are bypassed to their logits).
        x: a batch of inputs.
        class_index: None for each example's predicted class, an int for one class for all, or
            one index per example.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> bool((saliency(model, np.ones((2, 4), "float32")) >= 0).numpy().all())
        True
    """
    ensure_tensorflow_backend()
    x = as_float_tensor(x)
    validate_input_shape(model, x)
    view = as_logits(model, x_sample=x[:8])
    num_classes = num_classes_of(view, x)
    batch = int(x.shape[0])
    if class_index is None:
        chosen = tf.constant([-1] * batch, tf.int32)
    elif isinstance(class_index, int):
        chosen = as_int_labels([class_index] * batch, num_classes, batch, name="class_index")
    else:
        chosen = as_int_labels(class_index, num_classes, batch, name="class_index")

    def build():
        def body(x, chosen):
            note_trace()
            with tf.GradientTape() as tape:
                tape.watch(x)
                logits = view(x)
                predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
                classes = tf.where(chosen < 0, predicted, chosen)
                total = tf.reduce_sum(tf.gather(logits, classes, axis=-1, batch_dims=1))
            grad = tape.gradient(total, x)
            if grad is None:
                raise none_gradient_error("the logits")
            return tf.abs(grad)

        return body

    fn = compiled(view.model, ("saliency", view.source), build)
    return _traced_call(fn, view, x, chosen)

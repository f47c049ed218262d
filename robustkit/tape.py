"""Gradients inside compiled functions: the tape-level building blocks of every input gradient.

The public, compiled functions are in :mod:`robustkit.gradients`; attacks, trust checks and
training call these inside their own compiled graphs.

Example:
    >>> import tensorflow as tf
    >>> values, grad = value_and_gradient(lambda x: tf.reduce_sum(x * x, axis=1), tf.constant([[1.0, 2.0]]))
    >>> grad.numpy().tolist()
    [[2.0, 4.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from robustkit.errors import GradientError, InputError
from robustkit.logits import LogitsView
from robustkit.losses import attack_objective


def call_raw(f: Any, x: tf.Tensor) -> tf.Tensor:
    """Call a model, layer or function on ``x`` (Keras objects in inference mode)."""
    if isinstance(f, LogitsView):
        return f(x)
    if isinstance(f, keras.layers.Layer):
        return f(x, training=False)
    return f(x)


def none_gradient_error(what: str) -> GradientError:
    return GradientError(
        f"The gradient of {what} with respect to x is None: x is not connected to the output, "
        "or a non-differentiable operation (argmax, round, floor, a cast to an integer type, a "
        "numpy call) sits on the path. Remove it, replace it with a differentiable surrogate "
        "(softmax instead of argmax, a straight-through estimator for rounding), or pass the "
        "input the model actually uses."
    )


def validate_input_shape(f: Any, x: tf.Tensor) -> None:
    inputs = getattr(f, "inputs", None) if isinstance(f, keras.Model) else None
    if isinstance(f, LogitsView):
        inputs = getattr(f.model, "inputs", None) if isinstance(f.model, keras.Model) else None
    if not inputs or len(inputs) != 1:
        return
    expected = tuple(inputs[0].shape)
    got = tuple(x.shape)
    fits = len(expected) == len(got) and all(e is None or e == g for e, g in zip(expected, got))
    if not fits:
        raise InputError(shape_mismatch(got[1:], expected[1:]))


def shape_mismatch(got: tuple, expected: tuple) -> str:
    """What to say when examples of shape ``got`` meet a model that takes ``expected`` (batch axes left out).

    Example:
        >>> shape_mismatch((64,), (8, 8, 1)).split(": ")[1]
        'reshape them, x.reshape((-1, 8, 8, 1)).'
        >>> "(a table for an image model?)" in shape_mismatch((7,), (8, 8, 1))
        True
    """
    size = int(np.prod(got))
    known = all(d is not None for d in expected)
    needed = int(np.prod(expected)) if known else None
    text = f"the examples have shape {got}, {size} values each, but the model takes examples of shape {expected}"
    if needed == size:
        return f"{text}: reshape them, x.reshape((-1, {', '.join(str(d) for d in expected)}))."
    if not known:
        return f"{text} (None = any size): give data of that shape."
    return (
        f"{text}, {needed} values: these data are not made for this model"
        + (" (a table for an image model?)" if len(got) == 1 and len(expected) > 1 else "")
        + "; give the model trained on them, or data shaped as it expects."
    )


def objective_and_gradient(
    view: LogitsView, x: tf.Tensor, labels: tf.Tensor, loss: str, targeted: bool, guide: tf.Tensor | None = None
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Graph-level building block: per-example objective, its gradient, and the logits.

    Not compiled by itself; attacks call it inside their own compiled loops. Because examples
    are independent in inference mode, the gradient of the summed objective is the per-example
    gradient.
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = view(x)
        objective = attack_objective(loss, logits, labels, targeted, guide)
        total = tf.reduce_sum(
            tf.cast(objective, tf.float32) if objective.dtype in (tf.float16, tf.bfloat16) else objective
        )
    grad = tape.gradient(total, x)
    if grad is None:
        raise none_gradient_error(f"the {loss!r} loss")
    return objective, grad, logits


def value_and_gradient(objective: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Graph-level building block: a per-example objective of ``x`` and its gradient.

    For objectives that are not one of :mod:`robustkit.losses` (TRADES's KL divergence, say).
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        values = objective(x)
        total = tf.reduce_sum(values)
    grad = tape.gradient(total, x)
    if grad is None:
        raise none_gradient_error("the objective")
    return values, grad

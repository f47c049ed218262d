"""Validation and conversion of user inputs (``x``, labels, bounds).

All checks run eagerly, before any compiled function sees the data, so a bad input raises a
clear :mod:`robustkit.errors` exception instead of a wrong number deep inside a graph.

Example:
    >>> import numpy as np
    >>> x = as_float_tensor(np.zeros((2, 3), dtype="float32"))
    >>> labels = as_int_labels(np.array([0, 2]), num_classes=3, batch_size=2)
    >>> labels.numpy().tolist()
    [0, 2]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.errors import ConfigError, InputError, LabelError

FLOAT_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)


def as_float_tensor(x: Any, name: str = "x", check_finite: bool = True) -> tf.Tensor:
    """Convert ``x`` to a floating tensor, refusing integer, bool, NaN and Inf inputs.

    Python numbers become float32 scalars (as ``tf.constant(3.0)`` would); typed arrays and
    tensors keep their dtype, which must be floating.
    """
    if isinstance(x, bool):
        raise InputError(f"{name} is a bool; gradients need floating-point inputs.")
    if isinstance(x, (int, float)):
        x = tf.constant(float(x), dtype=tf.float32)
    elif isinstance(x, tf.Variable):
        x = tf.convert_to_tensor(x)
    elif not isinstance(x, tf.Tensor):
        try:
            array = np.asarray(x)
        except Exception as err:  # pragma: no cover - numpy raises many types
            raise InputError(f"{name} could not be converted to an array: {err}") from err
        if array.dtype == object:
            raise InputError(
                f"{name} is an array of Python objects (ragged or mixed types); pass a regular "
                "numeric array, e.g. np.stack(...).astype('float32')."
            )
        if not np.issubdtype(array.dtype, np.floating) and array.dtype.name != "bfloat16":
            raise InputError(
                f"{name} has dtype {array.dtype}; gradients need floating-point inputs. "
                f"Cast it first, e.g. {name}.astype('float32') (and scale it to the model's range)."
            )
        x = tf.convert_to_tensor(array)
    if x.dtype not in FLOAT_DTYPES:
        raise InputError(
            f"{name} has dtype {x.dtype.name}; gradients need floating-point inputs. "
            f"Cast it first, e.g. tf.cast({name}, tf.float32)."
        )
    if check_finite:
        ensure_finite(x, name)
    return x


def ensure_finite(x: tf.Tensor, name: str = "x") -> None:
    """Raise :class:`InputError` if ``x`` holds NaN or Inf, saying how many and where."""
    finite = tf.math.is_finite(tf.cast(x, tf.float32) if x.dtype == tf.bfloat16 else x)
    if not bool(tf.reduce_all(finite)):
        bad = int(tf.size(finite)) - int(tf.math.count_nonzero(finite))
        where = tf.where(tf.logical_not(finite))[0].numpy().tolist()
        raise InputError(
            f"{name} contains {bad} NaN or Inf value(s) (first at index {where}). "
            "Remove or impute them before attacking; gradients through NaN are meaningless."
        )


def as_int_labels(y: Any, num_classes: int | None, batch_size: int, name: str = "y") -> tf.Tensor:
    """Return labels as an int32 vector of length ``batch_size``.

    Accepts integer class indices of shape ``(batch,)`` (or ``(batch, 1)``) and one-hot or
    probability rows of shape ``(batch, num_classes)``, which are reduced with argmax.
    """
    if isinstance(y, tf.Tensor):
        array = y.numpy()
    else:
        try:
            array = np.asarray(y)
        except Exception as err:  # pragma: no cover
            raise LabelError(f"{name} could not be converted to an array: {err}") from err
    if array.ndim == 2 and array.shape[1] == 1 and num_classes not in (None, 1):
        array = array[:, 0]
    if array.ndim == 2:
        if num_classes is not None and array.shape[1] != num_classes:
            raise LabelError(
                f"{name} has shape {array.shape}: one-hot labels need {num_classes} columns, one "
                "per model output. Pass class indices of shape (batch,) or one-hot rows that "
                "match the model's output."
            )
        if not np.all(np.isfinite(array)):
            raise LabelError(f"{name} (one-hot) contains NaN or Inf.")
        array = np.argmax(array, axis=1)
    elif array.ndim != 1:
        raise LabelError(
            f"{name} has shape {array.shape}; expected class indices of shape ({batch_size},) "
            f"or one-hot rows of shape ({batch_size}, num_classes)."
        )
    if array.shape[0] != batch_size:
        raise LabelError(
            f"{name} has {array.shape[0]} labels but x has {batch_size} examples; they must match one to one."
        )
    if array.size and np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or not np.all(np.mod(array, 1) == 0):
            raise LabelError(f"{name} holds non-integer values; pass integer class indices (or one-hot rows).")
    elif array.size and not np.issubdtype(array.dtype, np.integer):
        raise LabelError(f"{name} has dtype {array.dtype}; pass integer class indices.")
    array = array.astype(np.int64)
    if array.size and num_classes is not None:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= num_classes:
            raise LabelError(
                f"{name} has values in [{low}, {high}] but the model has {num_classes} classes, "
                f"so labels must lie in [0, {num_classes - 1}]."
            )
    return tf.constant(array, dtype=tf.int32)


def ensure_in_bounds(x: tf.Tensor, lower: np.ndarray, upper: np.ndarray, slack: float = 1e-6, name: str = "x") -> None:
    """Raise :class:`InputError` if ``x`` leaves ``[lower, upper]`` by more than ``slack``."""
    values = tf.cast(x, tf.float64).numpy()
    below = values < lower - slack
    above = values > upper + slack
    if below.any() or above.any():
        raise InputError(
            f"{name} has values in [{values.min():.6g}, {values.max():.6g}], outside the bounds "
            f"[{np.min(lower):.6g}, {np.max(upper):.6g}] ({int(below.sum() + above.sum())} "
            "value(s)). Scale the data to the bounds (e.g. divide 8-bit images by 255) or pass "
            "bounds=(low, high) that match the data."
        )


def validate_eps(eps: Any, name: str = "eps") -> float:
    """An epsilon as a float: a finite number >= 0."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {eps!r}.") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be finite and >= 0, got {eps!r}.")
    return value


def validate_bounds(bounds: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` as float64 arrays: finite, scalars or broadcastable to one example.

    Example:
        >>> validate_bounds((0, 1))
        (array(0.), array(1.))
    """
    try:
        lower, upper = bounds
    except (TypeError, ValueError):
        raise ConfigError(f"bounds must be a pair (lower, upper), got {bounds!r}.") from None
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise ConfigError("bounds must be finite.")
    if np.any(lower >= upper):
        raise ConfigError(f"bounds need lower < upper everywhere, got {bounds!r}.")
    return lower, upper

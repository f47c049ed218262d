"""Straight-through gradients (BPDA, Athalye et al., 2018) for models that round or quantize their input.

``tf.round``, ``tf.floor``, ``tf.math.ceil``, ``tf.math.rint`` and a float-to-integer-and-back
``tf.cast`` have no useful gradient: it is zero or absent, so gradient attacks see a flat model
and report robustness that is not there. Inside :func:`straight_through`, differentiating such
an operation passes the incoming gradient through unchanged, as if it were the identity, while
the forward pass stays exactly the same. Attacks enable it with ``straight_through=True`` while
their compiled function is traced; nothing changes outside.

Two mechanisms, because TensorFlow's tape treats the two kinds of operation differently:

* rounding operations return floats, so the tape records them; their registered gradients are
  swapped for the identity while the context is active (TensorFlow's gradient registry is
  internal API: robustkit checks for it and says so if it ever moves);
* an integer tensor is never recorded by the tape, so a float -> integer -> float round trip
  through ``tf.cast`` is rewritten at trace time as ``x + stop_gradient(round_trip(x) - x)``.

Example:
    >>> import tensorflow as tf
    >>> x = tf.constant([0.2, 0.7])
    >>> def slope(quantize):
    ...     with tf.GradientTape() as tape:
    ...         tape.watch(x)
    ...         y = tf.reduce_sum(3.0 * quantize(x))
    ...     return tape.gradient(y, x)
    >>> to_int_and_back = lambda t: tf.cast(tf.cast(t * 4, tf.int32), tf.float32)
    >>> with straight_through():
    ...     slope(tf.round).numpy().tolist(), slope(to_int_and_back).numpy().tolist()
    ([3.0, 3.0], [12.0, 12.0])
    >>> slope(tf.round) is None    # outside: rounding has no gradient
    True
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import tensorflow as tf
from tensorflow.python.framework import ops

from robustkit.errors import ConfigError

ROUNDING_OPS = ("Round", "Floor", "Ceil", "Rint")
_lock = threading.RLock()


def _identity_gradient(op: Any, grad: tf.Tensor) -> tf.Tensor:
    return grad


def _registry() -> dict:
    table = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(table, dict) or any(name not in table for name in ROUNDING_OPS):
        raise ConfigError(
            "straight_through=True needs TensorFlow's gradient registry, which this TensorFlow version "
            f"({tf.__version__}) does not expose as robustkit expects; give the model its own straight-through "
            "estimator (x + tf.stop_gradient(tf.round(x) - x)) instead."
        )
    return table


@contextlib.contextmanager
def straight_through() -> Iterator[None]:
    """While active, rounding and integer round trips are differentiated as the identity."""
    with _lock:
        table = _registry()
        saved = {name: table[name] for name in ROUNDING_OPS}
        original_cast = tf.cast
        sources: dict[int, tf.Tensor] = {}  # id of an integer cast's output -> the float it came from

        def cast(x: Any, dtype: Any, name: str | None = None) -> tf.Tensor:
            out = original_cast(x, dtype, name=name)
            dtype = tf.as_dtype(dtype)
            if isinstance(x, tf.Tensor) and x.dtype.is_floating and (dtype.is_integer or dtype.is_bool):
                sources[id(out)] = x
            elif isinstance(x, tf.Tensor) and id(x) in sources and dtype.is_floating:
                source = tf.cast(sources[id(x)], dtype) if sources[id(x)].dtype != dtype else sources[id(x)]
                out = source + tf.stop_gradient(out - source)
            return out

        try:
            for name in ROUNDING_OPS:
                table[name] = {**saved[name], "type": _identity_gradient}
            tf.cast = tf.dtypes.cast = cast
            yield
        finally:
            tf.cast = tf.dtypes.cast = original_cast
            for name, entry in saved.items():
                table[name] = entry

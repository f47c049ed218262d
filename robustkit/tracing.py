"""Compiled functions, cached per model and key, and the count of traces.

Every compiled function in robustkit (gradients, predictions, attack loops) is built here once
per (model, key) and kept as long as the model lives, so repeated calls with the same shapes and
dtypes never retrace; :func:`trace_count` lets tests prove it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from robustkit.logits import LogitsView

_COMPILED: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()
_COMPILED_STRONG: dict[int, tuple[Any, dict]] = {}  # for callables that refuse weak references
_trace_total = 0


def trace_count() -> int:
    """How many times robustkit has traced (compiled) a gradient function in this process.

    A second call with the same model, options, shapes and dtypes leaves this unchanged.

    Example:
        >>> before = trace_count()
        >>> _ = trace_count()
        >>> trace_count() == before
        True
    """
    return _trace_total


def note_trace() -> None:
    # Runs in Python only while a function is being traced, never on later graph executions.
    global _trace_total
    _trace_total += 1


def _cache_for(owner: Any) -> dict:
    try:
        return _COMPILED.setdefault(owner, {})
    except TypeError:
        entry = _COMPILED_STRONG.get(id(owner))
        if entry is None or entry[0] is not owner:
            if len(_COMPILED_STRONG) > 256:
                _COMPILED_STRONG.clear()
            entry = (owner, {})
            _COMPILED_STRONG[id(owner)] = entry
        return entry[1]


def compiled(
    owner: Any,
    key: tuple,
    build: Callable[[], Callable],
    jit_compile: bool = False,
    input_signature: list | None = None,
):
    """Return the cached ``tf.function`` for ``(owner, key)``, building it on first use."""
    cache = _cache_for(owner)
    fn = cache.get((key, jit_compile))
    if fn is None:
        # Without a signature, reduce_retracing lets a second batch size relax the shapes once
        # instead of tracing again for every new size.
        fn = tf.function(
            build(),
            autograph=False,
            jit_compile=jit_compile,
            input_signature=input_signature,
            reduce_retracing=input_signature is None,
        )
        cache[(key, jit_compile)] = fn
    return fn


def compiled_predict(view: LogitsView, example_shape: tuple, dtype: tf.DType):
    """Compiled ``argmax(logits)`` for one model, example shape and dtype (any batch size)."""

    def build():
        def predict(x):
            note_trace()
            return tf.argmax(view(x), axis=-1, output_type=tf.int32)

        return predict

    signature = [tf.TensorSpec((None,) + tuple(example_shape), dtype)]
    return compiled(
        view.model, ("predict", view.source, tuple(example_shape), dtype.name), build, input_signature=signature
    )

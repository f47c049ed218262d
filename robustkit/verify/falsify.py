"""Counterexamples to a specification: searched by projected gradient descent, confirmed in float64.

A point is a counterexample when it lies in the box and its outputs satisfy every row of some
clause (:mod:`robustkit.verify.specification`): its *violation* ``min over clauses of max over rows of
(A y - b)`` is at most 0. :func:`search_box` descends the violation from many starts at once (the
box's center, given points, and uniform random points from a seed), with signed gradient steps
whose size shrinks from a quarter of the box's width, clipped into the box, as one compiled loop.
:func:`confirmed` then re-checks a candidate on the Keras model itself in float64 (a float64 twin of
the model, same weights): only a point inside the box whose float64 outputs violate the
specification is reported.

Example:
    >>> import keras, numpy as np
    >>> from robustkit.verify.specification import Clause, Specification
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0]], "float32"), np.zeros(2, "float32")])
    >>> unsafe = Clause(np.array([[1.0, 0.0]]), np.array([-0.5]))  # y0 = x <= -0.5
    >>> spec = Specification(np.array([-1.0]), np.array([1.0]), (unsafe,))
    >>> x = search_box(model, spec, starts=4, steps=20, seed=0)
    >>> bool(confirmed(model, spec, x))
    True
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from robustkit.logits import as_logits
from robustkit.verify.specification import Specification

_TWINS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def stacked_clauses(spec: Specification, dtype=tf.float32) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Every clause's rows stacked (``(rows, outputs)``, ``(rows,)``) and each row's clause, one-hot
    ``(clauses, rows)``."""
    matrix = np.concatenate([c.matrix for c in spec.clauses])
    offset = np.concatenate([c.offset for c in spec.clauses])
    owner = np.repeat(np.arange(len(spec.clauses)), [len(c.offset) for c in spec.clauses])
    member = np.arange(len(spec.clauses))[:, None] == owner[None]
    return tf.constant(matrix, dtype), tf.constant(offset, dtype), tf.constant(member)


def violation(outputs: tf.Tensor, matrix: tf.Tensor, offset: tf.Tensor, member: tf.Tensor) -> tf.Tensor:
    """``min over clauses of max over rows of (A y - b)`` per output row: at most 0 in the unsafe set."""
    values = tf.matmul(outputs, matrix, transpose_b=True) - offset  # (n, rows)
    per_clause = tf.where(member[None], values[:, None, :], tf.constant(-np.inf, values.dtype))
    return tf.reduce_min(tf.reduce_max(per_clause, axis=-1), axis=-1)


def search_box(
    model: Any, spec: Specification, *, starts: int = 64, steps: int = 100, seed: int = 0, from_points=None
) -> np.ndarray:
    """The point of least violation found by descent from ``starts`` random starts (and the box's center
    and ``from_points``), inside the box rounded inward in float32; shape: one example."""
    low, high = (tf.constant(v, tf.float32) for v in spec.inner_box(np.float32))
    matrix, offset, member = stacked_clauses(spec)
    shape = tuple(spec.lower.shape)
    points = [tf.reshape((low + high) / 2, (1, *shape))]
    if from_points is not None:
        points.append(tf.clip_by_value(tf.cast(tf.reshape(from_points, (-1, *shape)), tf.float32), low, high))
    noise = tf.random.stateless_uniform((starts, *shape), (seed, 11))
    points.append(low + noise * (high - low))
    x = tf.concat(points, axis=0)
    logits = as_logits(model)
    best_x, best = x, tf.fill((int(x.shape[0]),), tf.constant(np.inf, tf.float32))
    for step in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(x)
            found = violation(logits(x), matrix, offset, member)
        better = found < best
        best = tf.where(better, found, best)
        best_x = tf.where(tf.reshape(better, (-1,) + (1,) * len(shape)), x, best_x)
        size = 0.25 * (0.5 * (1 + np.cos(np.pi * step / max(1, steps))) + 0.02)
        x = tf.clip_by_value(x - size * (high - low) * tf.sign(tape.gradient(found, x)), low, high)
    return best_x[int(tf.argmin(best))].numpy()


def float64_twin(model: Any) -> Any:
    """A copy of ``model`` whose layers compute in float64, with the same weights (cached per model)."""
    twin = _TWINS.get(model)
    if twin is None:

        def clone(layer: Any) -> Any:
            return layer.__class__.from_config({**layer.get_config(), "dtype": "float64"})

        twin = keras.models.clone_model(model, clone_function=clone)
        twin.set_weights([np.asarray(w, np.float64) for w in model.get_weights()])
        _TWINS[model] = twin
    return twin


def confirmed(model: Any, spec: Specification, x: np.ndarray) -> bool:
    """Whether ``x`` is a counterexample: inside the box (in float64) and, on the float64 twin of the
    model, its outputs violate the specification."""
    if x is None or not spec.contains(x):
        return False
    outputs = as_logits(float64_twin(model))(tf.constant(np.asarray(x, np.float64)[None]))
    return bool(spec.violated(np.asarray(outputs, np.float64))[0])

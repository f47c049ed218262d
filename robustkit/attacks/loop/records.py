"""The per-example records the loop passes around: an evaluation of the model, and the best point.

Example:
    >>> import tensorflow as tf
    >>> best = Best.empty(tf.zeros((2, 3)))
    >>> candidate = Best(tf.ones((2, 3)), tf.constant([0.5, float("nan")]), tf.constant([False, True]),
    ...                  tf.constant([1, 2]))
    >>> best.merge(candidate, keep_best=True).objective.numpy().tolist()
    [0.5, -inf]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf


def per_row(mask: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """A per-example vector reshaped to broadcast against a batch (static rank: one op)."""
    return tf.reshape(mask, [-1] + [1] * (like.shape.rank - 1))


def where_rows(mask: tf.Tensor, chosen: tf.Tensor, other: tf.Tensor) -> tf.Tensor:
    """Per example: ``chosen`` where ``mask`` holds, else ``other`` (any per-example tensor).

    The row-wise ``Select`` (a vector condition picks whole rows) is used rather than
    ``tf.where``: on CPU the broadcasting select costs about three times as much, and attack loops
    run one or more of these per step.
    """
    return tf.raw_ops.Select(condition=mask, x=chosen, y=other)


class Evaluation(NamedTuple):
    """The model at a batch of points: the attack objective, its gradient (or None), the verdict."""

    objective: tf.Tensor  # (batch,), in the attack's dtype
    gradient: tf.Tensor | None  # x's shape; None for a forward pass
    success: tf.Tensor  # (batch,) bool: misclassified (untargeted) or classified as the target
    prediction: tf.Tensor  # (batch,) int32


class Best(NamedTuple):
    """Each example's best point so far and what the model made of it."""

    x: tf.Tensor
    objective: tf.Tensor
    success: tf.Tensor
    prediction: tf.Tensor

    @staticmethod
    def empty(x: tf.Tensor) -> Best:
        """No point yet: x itself, scored minus infinity, so any finite point replaces it."""
        batch = tf.shape(x)[0]
        return Best(x, unscored_objective(batch, x.dtype), tf.zeros([batch], tf.bool), unscored_prediction(batch))

    def better(self, candidate: Best) -> tf.Tensor:
        """A successful point beats an unsuccessful one; otherwise the higher objective wins."""
        return tf.logical_or(
            tf.logical_and(candidate.success, tf.logical_not(self.success)),
            tf.logical_and(tf.equal(candidate.success, self.success), candidate.objective > self.objective),
        )

    def merge(self, candidate: Best, keep_best: bool) -> Best:
        """Per example, the better of the two (``keep_best=False``: the candidate), never a NaN point."""
        take = self.better(candidate) if keep_best else tf.ones_like(candidate.success)
        take = tf.logical_and(take, tf.math.is_finite(candidate.objective))
        return Best(*(where_rows(take, c, b) for c, b in zip(candidate, self)))


def unscored_objective(size: tf.Tensor | int, dtype: tf.DType) -> tf.Tensor:
    """The objective of a point not evaluated: not finite, so :meth:`Best.merge` never keeps it."""
    return tf.fill([size], tf.constant(-np.inf, dtype))


def unscored_prediction(size: tf.Tensor | int) -> tf.Tensor:
    return tf.fill([size], tf.constant(-1, tf.int32))


def hit(prediction: tf.Tensor, labels: tf.Tensor, targeted: bool) -> tf.Tensor:
    """Whether a prediction is the attack's goal: the target, or anything but the true label."""
    return tf.equal(prediction, labels) if targeted else tf.not_equal(prediction, labels)

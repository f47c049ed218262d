"""APGD's step-size schedule (Croce & Hein, 2020): checkpoints, and when to halve the step.

The step size is revisited at checkpoints ``w_j = ceil(p_j * N)`` of an ``N``-step run, with
``p_0 = 0``, ``p_1 = 0.22`` and ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``. In integer
steps: the first checkpoint comes after ``max(int(0.22 N), 1)`` steps, and each later interval is
the previous one shortened by ``max(int(0.03 N), 1)``, but never below ``max(int(0.06 N), 1)``.

At a checkpoint an example's step size is halved (and it restarts from its best point) when

1. the objective rose in at most a fraction ``rho`` (0.75) of the steps since the last
   checkpoint, or
2. the step size was not halved at the last checkpoint and the best objective has not improved
   since then.

Example:
    >>> checkpoints(100)
    {22: 22, 41: 19, 57: 16, 70: 13, 80: 10, 87: 7, 93: 6, 99: 6}
"""

from __future__ import annotations

import tensorflow as tf


def checkpoints(steps: int) -> dict[int, int]:
    """``{step index: steps since the previous checkpoint}`` for a run of ``steps`` steps."""
    interval = max(int(0.22 * steps), 1)
    shorten, shortest = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    found, at = {}, 0
    while at + interval <= steps:
        at += interval
        found[at] = interval
        interval = max(interval - shorten, shortest)
    return found


def interval_table(steps: int) -> list[int]:
    """For each step index ``0 .. steps - 1``: the checkpoint's interval there, 0 elsewhere.

    A checkpoint at the last evaluated point (index ``steps``) would come after the last step, so
    it is left out.

    Example:
        >>> interval_table(10)
        [0, 0, 2, 1, 1, 1, 1, 1, 1, 1]
    """
    found = checkpoints(steps)
    return [found.get(t, 0) for t in range(steps)]


def halve_step(
    increases: tf.Tensor,
    interval: tf.Tensor,
    rho: float,
    halved_last: tf.Tensor,
    best_at_last: tf.Tensor,
    best_now: tf.Tensor,
) -> tf.Tensor:
    """Per example, whether a checkpoint halves the step (the two conditions above).

    Args:
        increases: steps since the last checkpoint in which the objective rose.
        interval: steps since the last checkpoint.
        rho: the share of rising steps below which the step is too large.
        halved_last: whether the last checkpoint halved the step.
        best_at_last: the best objective at the last checkpoint.
        best_now: the best objective now.

    Example:
        >>> import tensorflow as tf
        >>> rose = tf.constant([16, 17, 17])   # of 22 steps; 0.75 * 22 = 16.5
        >>> halve_step(rose, tf.constant(22), 0.75, tf.constant([False, False, True]),
        ...            tf.constant([1.0, 1.0, 1.0]), tf.constant([2.0, 1.0, 1.0])).numpy().tolist()
        [True, True, False]
    """
    too_few_rises = tf.cast(increases, tf.float32) <= rho * tf.cast(interval, tf.float32)
    stalled = tf.logical_and(tf.logical_not(halved_last), best_at_last >= best_now)
    return tf.logical_or(too_few_rises, stalled)

"""Projected gradient ascent with Adam on a batch of bounds, run as one compiled loop.

alpha-CROWN and beta-CROWN raise a lower bound by moving its free parameters (the slopes of the ReLUs'
lower lines, the Lagrange multipliers of split constraints) inside the set where the bound stays
sound: every parameter has a lower and an upper limit, and each step is projected back into them.
The bound is sound at every step, so the best value seen for each example and row is kept, together
with the tightest intervals seen along the way (each of them sound as well).

Example:
    >>> import tensorflow as tf
    >>> objective = lambda v: (-(v[0] - 0.3) ** 2, [])  # best at 0.3, inside [0, 1]
    >>> best, _, found = ascend(objective, [tf.zeros((1, 1))], [(0.0, 1.0)], iterations=200, learning_rate=0.05)
    >>> round(float(found[0][0, 0]), 2), round(float(best[0, 0]), 4)
    (0.3, -0.0)
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from robustkit.verify.rules import Interval

Objective = Callable[[list[tf.Tensor]], tuple[tf.Tensor, list[Interval]]]
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8  # Adam's usual constants


def _project(values: list[tf.Tensor], limits: list[tuple[float, float]]) -> list[tf.Tensor]:
    return [tf.clip_by_value(v, low, high) for v, (low, high) in zip(values, limits)]


def _tightest(best: list[Interval], found: list[Interval]) -> list[Interval]:
    return [(tf.maximum(bl, fl), tf.minimum(bh, fh)) for (bl, bh), (fl, fh) in zip(best, found)]


def ascend(
    objective: Objective,
    start: list[tf.Tensor],
    limits: list[tuple[float, float]],
    iterations: int,
    learning_rate: float | list[float],
) -> tuple[tf.Tensor, list[Interval], list[tf.Tensor]]:
    """Raise ``objective(values)[0]`` (a lower bound per example and row) by Adam, projected into ``limits``.

    Args:
        objective: maps the parameters to the bound, shape ``(batch, rows)``, and a list of intervals
            found on the way (kept at their tightest).
        start: the parameters' first values.
        limits: each parameter's ``(low, high)``, which every step is clipped into.
        iterations: how many bounds are evaluated (the first at ``start``).
        learning_rate: Adam's step size, one for all parameters or one each.

    Returns:
        The best bound seen per example and row, the tightest intervals seen, and the last parameters.
    """
    rates = list(learning_rate) if isinstance(learning_rate, (list, tuple)) else [learning_rate] * len(start)
    values = _project(list(start), limits)
    best, intervals = objective(values)
    zeros = [tf.zeros_like(v) for v in values]

    def step(t, values, first, second, best, intervals):
        with tf.GradientTape() as tape:
            tape.watch(values)
            bound, found = objective(values)
            total = tf.reduce_sum(tf.where(tf.math.is_finite(bound), bound, tf.zeros_like(bound)))
        grads = tape.gradient(total, values, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        first = [BETA1 * m + (1 - BETA1) * g for m, g in zip(first, grads)]
        second = [BETA2 * s + (1 - BETA2) * g * g for s, g in zip(second, grads)]
        t1 = tf.cast(t + 1, values[0].dtype) if values else 1.0
        rate = tf.sqrt(1 - BETA2**t1) / (1 - BETA1**t1)
        moved = [v + r * rate * m / (tf.sqrt(s) + EPSILON) for v, r, m, s in zip(values, rates, first, second)]
        return t + 1, _project(moved, limits), first, second, tf.maximum(best, bound), _tightest(intervals, found)

    if not values or iterations <= 1:
        return best, intervals, values
    _, values, _, _, best, intervals = tf.while_loop(
        lambda t, *_: t < iterations - 1,
        step,
        (tf.constant(0), values, zeros, list(zeros), best, intervals),
        parallel_iterations=1,
    )
    bound, found = objective(values)
    return tf.maximum(best, bound), _tightest(intervals, found), values

"""The smallest step onto a hyperplane inside a box: FAB's projection, for L-inf, L2 and L1.

Given per example a hyperplane ``w . d = c`` and a box ``low <= d <= high`` (``low <= 0 <= high``:
the input bounds seen from the current point), find the step ``d`` of smallest norm on the
hyperplane and in the box. When the box does not reach the hyperplane, the step that comes
closest is returned (every coordinate at the bound that helps), as FAB does. Tensors are
``(batch, features)``.

* L2: ``d = clip(lam * w, low, high)`` with the scalar ``lam`` that puts ``d`` on the hyperplane.
* L-inf: ``d = clip(t * sign(w), low, high)`` with the smallest radius ``t`` that reaches it.
* L1: the coordinates with the largest ``|w|`` move first, each to its bound, the last one part
  way (the greedy answer of a fractional knapsack, exact).

``lam`` and ``t`` are found by bisection on a log scale (each example's ``w . d`` grows with them).

Example:
    >>> import tensorflow as tf
    >>> w, c = tf.constant([[1.0, 1.0]]), tf.constant([1.0])
    >>> low, high = tf.constant([[-1.0, -1.0]]), tf.constant([[0.25, 1.0]])
    >>> [round(float(v), 4) for v in project("l2", w, c, low, high)[0]]
    [0.25, 0.75]
    >>> [round(float(v), 4) for v in project("linf", w, c, low, high)[0]]
    [0.25, 0.75]
    >>> [round(float(v), 4) for v in project("l1", tf.constant([[2.0, 1.0]]), c, low, high)[0]]
    [0.25, 0.5]
"""

from __future__ import annotations

import tensorflow as tf

from robustkit.row_random import per_example

BISECTION_STEPS = 40  # on a log scale spanning up to ~1e24: a relative error near 1e-7


def project(norm: str, w: tf.Tensor, c: tf.Tensor, low: tf.Tensor, high: tf.Tensor) -> tf.Tensor:
    """The smallest step ``d`` (in ``norm``) with ``w . d = c`` and ``low <= d <= high``."""
    # Solve for c >= 0 only: flipping w turns w . d = c into (-w) . d = -c.
    flip = c < 0
    w = tf.where(flip[:, None], -w, w)
    c = tf.abs(c)
    # Moving coordinate i helps by |w_i| per unit, up to its bound in the direction of sign(w_i).
    room = tf.where(w > 0, high, -low)
    if norm == "l1":
        d = _greedy_l1(w, c, room)
    else:
        d = _bisect(norm, w, c, room)
    return tf.where(tf.equal(c, 0)[:, None], tf.zeros_like(d), d)


def _bisect(norm: str, w: tf.Tensor, c: tf.Tensor, room: tf.Tensor) -> tf.Tensor:
    """L2 and L-inf: ``|d_i| = min(s * scale_i, room_i)`` towards sign(w_i), for the ``s`` that reaches c."""
    scale = tf.abs(w) if norm == "l2" else tf.cast(tf.not_equal(w, 0), w.dtype)
    tiny = tf.constant(1e-30, w.dtype)

    def reach(s: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.abs(w) * tf.minimum(s[:, None] * scale, room), axis=1)

    # Without the box, s0 = c / (w . scale) reaches c exactly; the box only slows progress, so s >= s0.
    # Every coordinate is at its bound once s >= max(room / scale): nothing more is reachable.
    s_low = c / tf.maximum(tf.reduce_sum(tf.abs(w) * scale, axis=1), tiny)
    movable = scale > 0
    zero, one = tf.zeros_like(w), tf.ones_like(w)
    s_high = tf.reduce_max(tf.where(movable, room / tf.where(movable, scale, one), zero), axis=1)
    s_high = tf.maximum(s_high, s_low)
    log_low = per_example(tf.math.log, tf.maximum(s_low, tiny))
    log_high = per_example(tf.math.log, tf.maximum(s_high, tiny))

    def halve(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        enough = reach(per_example(tf.exp, mid)) >= c
        return _ + 1, (tf.where(enough, lo, mid), tf.where(enough, mid, hi))

    _, (_, log_s) = tf.while_loop(
        lambda i, _: i < BISECTION_STEPS, halve, (tf.constant(0), (log_low, log_high)), parallel_iterations=1
    )
    # The upper end reaches c (or is s_high, as far as the box allows): the step lands on or just past it.
    s = per_example(tf.exp, log_s)
    return tf.sign(w) * tf.minimum(s[:, None] * scale, room)


def _greedy_l1(w: tf.Tensor, c: tf.Tensor, room: tf.Tensor) -> tf.Tensor:
    """L1: coordinates in order of |w|, each moved to its bound until w . d reaches c."""
    gain_rate = tf.abs(w)
    order = tf.argsort(gain_rate, axis=1, direction="DESCENDING", stable=True)
    rate = tf.gather(gain_rate, order, batch_dims=1)
    cap = tf.gather(room, order, batch_dims=1)
    gained_before = tf.cumsum(rate * cap, axis=1, exclusive=True)
    needed = tf.maximum(c[:, None] - gained_before, tf.zeros_like(rate))
    moves = rate > 0
    amount = tf.where(moves, tf.minimum(needed / tf.where(moves, rate, tf.ones_like(rate)), cap), tf.zeros_like(rate))
    back = tf.argsort(order, axis=1, stable=True)
    return tf.sign(w) * tf.gather(amount, back, batch_dims=1)

"""APGD under L1 as in "Mind the box" (Croce & Hein, 2021): sparse steps whose sparsity adapts,
and the exact projection onto the intersection of the L1 ball and the input box.

Each step moves the coordinates whose gradient magnitude is in the top ``k`` share, each by
``eta / (number moved)`` in the direction of the gradient's sign, then projects onto
``{x + d : |d|_1 <= eps, low <= x + d <= high}``. There is no momentum. Every
``max(int(0.04 N), 1)`` steps (a checkpoint) the best point's sparsity ``s`` (its count of
changed coordinates) sets ``k = s / (1.5 n)`` for ``n`` features; if ``s`` fell below 95% of its
value at the previous checkpoint, the step goes back to ``eps`` and the search continues from
the best point, else the step is divided by 1.5 (never below ``eps / 10``). ``k`` starts at 0.2.
The random start is a Gaussian point projected onto the same set.

Example:
    >>> import tensorflow as tf
    >>> d = project_l1_box(tf.constant([[0.8, -0.6, 0.1]]), tf.constant([[-1.0, -0.5, -1.0]]),
    ...                    tf.constant([[1.0, 1.0, 1.0]]), tf.constant(1.0))
    >>> [round(float(v), 4) for v in d[0]], round(float(tf.reduce_sum(tf.abs(d))), 4)
    ([0.6, -0.4, 0.0], 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import tensorflow as tf

from robustkit.attacks.loop import Evaluation, Problem, Rows
from robustkit.attacks.loop.records import per_row, where_rows
from robustkit.row_random import row_normal

BISECTION_STEPS = 40
START_SHARE = 0.2  # k at the start: a fifth of the coordinates move
SHRINK = 1.5  # the step's divisor, and how much sparser than the best point the next steps are
SMALLEST = 10.0  # the step never falls below eps / SMALLEST


def project_l1_box(delta: tf.Tensor, low: tf.Tensor, high: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
    """The Euclidean projection of ``delta`` onto ``{d : |d|_1 <= eps, low <= d <= high}`` (``low <= 0 <= high``).

    Row-wise: ``d_i = clip(sign(delta_i) * max(|delta_i| - lam, 0), low_i, high_i)`` with the smallest
    ``lam >= 0`` that brings the L1 norm within eps (by bisection; ``lam = 0`` when the box alone does).
    Tensors are ``(batch, features)``.
    """
    magnitude = tf.abs(delta)
    room = tf.where(delta >= 0, high, -low)  # how far each coordinate may move in its direction

    def size(lam: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.clip_by_value(magnitude - lam[:, None], 0.0, room), axis=1)

    upper = tf.reduce_max(magnitude, axis=1)

    def halve(i, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        small = size(mid) <= eps
        return i + 1, (tf.where(small, lo, mid), tf.where(small, mid, hi))

    _, (_, lam) = tf.while_loop(
        lambda i, _: i < BISECTION_STEPS,
        halve,
        (tf.constant(0), (tf.zeros_like(upper), upper)),
        parallel_iterations=1,
    )
    lam = tf.where(size(tf.zeros_like(upper)) <= eps, tf.zeros_like(lam), lam)
    d = tf.sign(delta) * tf.clip_by_value(magnitude - lam[:, None], 0.0, room)
    # The bisection leaves the sum a rounding error above eps at worst: scale that away (towards 0
    # stays inside the box).
    total = tf.reduce_sum(tf.abs(d), axis=1)
    return d * tf.minimum(tf.ones_like(total), eps / tf.maximum(total, tf.constant(1e-30, d.dtype)))[:, None]


class APGDL1State(NamedTuple):
    x: tf.Tensor
    eta: tf.Tensor  # step size, per example
    share: tf.Tensor  # k: the share of coordinates a step moves, per example
    sparsity_before: tf.Tensor  # the best point's count of changed coordinates at the last checkpoint
    t: tf.Tensor
    x_max: tf.Tensor
    grad_max: tf.Tensor
    objective_max: tf.Tensor


def _flat(t: tf.Tensor) -> tf.Tensor:
    return tf.reshape(t, [tf.shape(t)[0], -1])


@dataclass(frozen=True)
class APGDL1Rule:
    steps: int
    needs_gradient = True
    starts_at_x = False

    def _project(self, problem: Problem, point: tf.Tensor, origin: tf.Tensor) -> tf.Tensor:
        low = _flat(tf.broadcast_to(problem.lo, tf.shape(origin)) - origin)
        high = _flat(tf.broadcast_to(problem.hi, tf.shape(origin)) - origin)
        d = project_l1_box(_flat(point - origin), low, high, problem.eps)
        return origin + tf.reshape(d, tf.shape(origin))

    def init(self, problem: Problem, x: tf.Tensor, restart: tf.Tensor) -> APGDL1State:
        keys = problem.restart_keys(restart)
        noise = tf.reshape(tf.cast(row_normal(keys, 0, tf.reduce_prod(tf.shape(x)[1:])), x.dtype), tf.shape(x))
        start = self._project(problem, x + noise, x)
        batch = tf.shape(x)[0]
        features = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), x.dtype)
        low = tf.fill([batch], tf.constant(float("-inf"), x.dtype))
        return APGDL1State(
            start,
            tf.fill([batch], problem.step_size),
            tf.fill([batch], tf.constant(START_SHARE, x.dtype)),
            tf.fill([batch], features),
            tf.zeros([batch], tf.int32),
            start,
            tf.zeros_like(x),
            low,
        )

    def step(self, problem: Problem, state: APGDL1State, evaluation: Evaluation, rows: Rows) -> APGDL1State:
        s, f, g = state, evaluation.objective, evaluation.gradient
        t = tf.reduce_max(s.t)
        better = f > s.objective_max
        x_max, grad_max = where_rows(better, s.x, s.x_max), where_rows(better, g, s.grad_max)
        objective_max = tf.where(better, f, s.objective_max)
        interval = max(int(0.04 * self.steps), 1)
        origin = rows.origin
        features = tf.cast(tf.reduce_prod(tf.shape(s.x)[1:]), s.x.dtype)

        def checkpoint():
            sparsity = tf.reduce_sum(tf.cast(tf.not_equal(_flat(x_max - origin), 0), s.x.dtype), axis=1)
            sparser = sparsity / tf.maximum(s.sparsity_before, 1.0) < 0.95
            full = problem.step_size
            eta = tf.clip_by_value(tf.where(sparser, full, s.eta / SHRINK), full / SMALLEST, full)
            share = sparsity / features / SHRINK
            return eta, share, sparsity, where_rows(sparser, x_max, s.x), where_rows(sparser, grad_max, g)

        def between():
            return s.eta, s.share, s.sparsity_before, s.x, g

        at_check = tf.logical_and(t > 0, tf.equal(t % interval, 0))
        eta, share, sparsity_before, x_from, g_from = tf.cond(at_check, checkpoint, between)
        magnitude = tf.abs(_flat(g_from))
        ranked = tf.sort(magnitude, axis=1)
        count = tf.shape(ranked)[1]
        position = tf.clip_by_value(tf.cast((1.0 - share) * features, tf.int32), 0, count - 1)
        threshold = tf.gather(ranked, position, batch_dims=1)
        chosen = tf.logical_and(magnitude >= threshold[:, None], magnitude > 0)
        moved = tf.reduce_sum(tf.cast(chosen, s.x.dtype), axis=1)
        direction = tf.where(chosen, tf.sign(_flat(g_from)), tf.zeros_like(magnitude)) / (moved[:, None] + 1e-10)
        x_new = self._project(problem, x_from + per_row(eta, s.x) * tf.reshape(direction, tf.shape(s.x)), origin)
        return APGDL1State(x_new, eta, share, sparsity_before, s.t + 1, x_max, grad_max, objective_max)

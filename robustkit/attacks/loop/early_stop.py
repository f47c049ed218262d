"""One restart in early-stopping mode: examples leave the batch once they are adversarial.

Every ``COMPACT_EVERY`` steps the examples still being attacked are gathered into a compact
batch; within those steps an example that succeeds is frozen (its state and evaluation kept),
and at their end the compact batch is scattered back. Compacting at every step would cost more
in gathers and scatters than the few frozen rows cost on small models.

Every tensor carries one extra row that is always active and never reported: the batch is then
never empty (TensorFlow's CPU convolutions fail on empty batches). Under XLA (static shapes)
nothing is gathered: inactive rows are frozen throughout.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import tensorflow as tf

from robustkit.attacks.loop.fixed import sanitized
from robustkit.attacks.loop.problem import Problem, Rows
from robustkit.attacks.loop.records import Best, Evaluation, unscored_objective, unscored_prediction, where_rows
from robustkit.attacks.loop.rule import StepRule, map_state
from robustkit.attacks.loop.schedule import run_steps

COMPACT_EVERY = 5


class Progress(NamedTuple):
    """The whole (padded) batch between segments."""

    state: Any  # the rule's state
    active: tf.Tensor  # still being attacked
    objective: tf.Tensor  # at the last evaluated point
    prediction: tf.Tensor
    evals: tf.Tensor  # gradient evaluations spent, per example


def _pad(t: tf.Tensor) -> tf.Tensor:
    return tf.concat([t, t[:1]], axis=0)


def early_stop_restart(
    problem: Problem,
    rule: StepRule,
    x: tf.Tensor,
    rows: Rows,
    restart: tf.Tensor,
    best: Best,
    evals: tf.Tensor,
    at_x: Evaluation | None,
):
    """Run one restart on the examples without a successful point; returns ``(best, evals)``."""
    cfg = problem.cfg
    batch = tf.shape(x)[0]
    rows_ext = rows.map(_pad)
    attacked = tf.logical_not(best.success)
    stand_in = tf.concat([tf.zeros([batch], tf.bool), [True]], axis=0)
    at_x_ext = None if at_x is None else Evaluation(*(None if t is None else _pad(t) for t in at_x))

    def segment(progress: Progress, n: int, evaluation: Evaluation | None = None) -> Progress:
        """``n`` steps on the active examples; ``evaluation`` replaces the first one's, when given."""
        if cfg.gather:
            idx = tf.where(progress.active)[:, 0]  # sorted, so the stand-in row comes last
            take = lambda t: tf.gather(t, idx)  # noqa: E731
            done = tf.zeros_like(idx, tf.bool)  # every gathered row is being attacked
            may_stop = tf.not_equal(idx, tf.cast(batch, idx.dtype))
            objective = prediction = None  # the first step sets them for every row
        else:
            take = lambda t: t  # noqa: E731
            done, may_stop = tf.logical_not(progress.active), tf.logical_not(stand_in)
            objective, prediction = progress.objective, progress.prediction
        state = map_state(take, progress.state)
        part = rows_ext.map(take)
        evals_c = tf.zeros_like(part.labels)
        for i in range(n):
            if i == 0 and evaluation is not None:
                now = Evaluation(*(take(t) for t in evaluation))
            else:
                now = problem.step_evaluation(rule, state.x, part.labels, part.guide)
                evals_c += tf.cast(tf.logical_not(done), evals_c.dtype)
            if objective is None:
                objective, prediction = now.objective, now.prediction
            else:
                live = tf.logical_not(done)
                objective, prediction = (
                    tf.where(live, now.objective, objective),
                    tf.where(live, now.prediction, prediction),
                )
            done = tf.logical_or(done, tf.logical_and(now.success, may_stop))
            stepped = rule.step(problem, state, sanitized(now, cfg.keep_best), part)
            state = map_state(lambda old, new, done=done: where_rows(done, old, new), state, stepped)
        if not cfg.gather:
            return Progress(state, tf.logical_not(done), objective, prediction, progress.evals + evals_c)
        at = idx[:, None]
        return Progress(
            map_state(lambda full, compact: tf.tensor_scatter_nd_update(full, at, compact), progress.state, state),
            tf.tensor_scatter_nd_update(progress.active, at, tf.logical_not(done)),
            tf.tensor_scatter_nd_update(progress.objective, at, objective),
            tf.tensor_scatter_nd_update(progress.prediction, at, prediction),
            tf.tensor_scatter_nd_add(progress.evals, at, evals_c),
        )

    def advance(progress: Progress, n: int) -> Progress:
        for start in range(0, n, COMPACT_EVERY):
            progress = segment(progress, min(COMPACT_EVERY, n - start))
        return progress

    progress = Progress(
        map_state(_pad, rule.init(problem, x, restart)),
        tf.concat([attacked, [True]], axis=0),
        unscored_objective(batch + 1, problem.dtype),
        unscored_prediction(batch + 1),
        tf.concat([evals, [0]], axis=0),
    )
    steps = cfg.steps
    if at_x_ext is not None:
        progress, steps = segment(progress, 1, at_x_ext), steps - 1
    progress = run_steps(advance, progress, steps, lambda p: p.active[:batch])
    return _finish(problem, progress, rows_ext, attacked, best, batch)


def _finish(problem: Problem, progress: Progress, rows_ext: Rows, attacked: tf.Tensor, best: Best, batch):
    """Score the last iterate of the examples still active and merge the restart into ``best``."""
    x_adv, active = progress.state.x, progress.active
    idx = tf.where(active)[:, 0]
    scored = problem.evaluate(tf.gather(x_adv, idx), *rows_ext.targets_at(idx))
    at = idx[:, None]
    objective = tf.tensor_scatter_nd_update(progress.objective, at, scored.objective)
    prediction = tf.tensor_scatter_nd_update(progress.prediction, at, scored.prediction)
    success = tf.tensor_scatter_nd_update(tf.logical_not(active), at, scored.success)
    candidate = Best(x_adv[:batch], objective[:batch], tf.logical_and(success[:batch], attacked), prediction[:batch])
    # Examples that were not attacked in this restart keep what they had.
    candidate = Best(*(where_rows(attacked, c, b) for c, b in zip(candidate, best)))
    return best.merge(candidate, problem.cfg.keep_best), progress.evals[:batch]

"""One restart in fixed-work mode: every example takes every step.

Used for adversarial training (the last iterate is what counts) and wherever the work must not
depend on the answer. With best-point keeping, each iterate is scored by the gradient
evaluation that the next step needs anyway; only the last iterate costs a forward pass of its
own, and only for examples that have no successful point yet.
"""

from __future__ import annotations

import tensorflow as tf

from robustkit.attacks.loop.problem import Problem, Rows
from robustkit.attacks.loop.records import Best, Evaluation, unscored_objective, unscored_prediction
from robustkit.attacks.loop.rule import StepRule
from robustkit.attacks.loop.schedule import run_steps


def sanitized(evaluation: Evaluation, keep_best: bool) -> Evaluation:
    """Without best-point keeping, a NaN/Inf gradient must not carry the point out of the numbers.

    With it, an iterate made non-finite by a bad gradient has a NaN objective and is never kept,
    so the step can skip this (whole-batch) guard.
    """
    grad = evaluation.gradient
    if keep_best or grad is None:
        return evaluation
    return evaluation._replace(gradient=tf.where(tf.math.is_finite(grad), grad, tf.constant(0, grad.dtype)))


def fixed_restart(
    problem: Problem,
    rule: StepRule,
    x: tf.Tensor,
    rows: Rows,
    restart: tf.Tensor,
    best: Best,
    evals: tf.Tensor,
    at_x: Evaluation | None,
):
    """Run one restart on the whole batch; returns ``(best, evals)``."""
    cfg = problem.cfg

    def step(carry, evaluation=None):
        state, best = carry
        if evaluation is None:
            evaluation = problem.step_evaluation(rule, state.x, rows.labels, rows.guide)
        if cfg.keep_best:
            best = best.merge(Best(state.x, evaluation.objective, evaluation.success, evaluation.prediction), True)
        return rule.step(problem, state, sanitized(evaluation, cfg.keep_best), rows), best

    def advance(carry, n):
        for _ in range(n):
            carry = step(carry)
        return carry

    carry, steps = (rule.init(problem, x, restart), best), cfg.steps
    if at_x is not None:
        carry, steps = step(carry, at_x), steps - 1
    state, best = run_steps(advance, carry, steps)
    if not cfg.score_last:
        return best._replace(x=state.x), evals + steps
    return best.merge(score_last_iterate(problem, state.x, rows, best), cfg.keep_best), evals + steps


def score_last_iterate(problem: Problem, x_adv: tf.Tensor, rows: Rows, best: Best) -> Best:
    """Score the last iterate, which has no evaluation yet.

    With best-point keeping, an example that already has a successful point keeps it, so only
    the others need this forward pass: on an attack that succeeds it is cheap.
    """
    cfg = problem.cfg
    if not cfg.keep_best:
        return Best(x_adv, *_verdict(problem.evaluate(x_adv, rows.labels, rows.guide)))
    need = tf.logical_not(best.success)
    batch = tf.shape(x_adv)[0]
    unscored = (unscored_objective(batch, problem.dtype), tf.zeros([batch], tf.bool), unscored_prediction(batch))
    if not cfg.gather:  # static shapes (XLA): score every row, keep the needed ones
        scored = _verdict(problem.evaluate(x_adv, rows.labels, rows.guide))
        return Best(x_adv, *(tf.where(need, v, u) for v, u in zip(scored, unscored)))
    idx = tf.where(need)[:, 0]

    def scored_rows():
        scored = _verdict(problem.evaluate(tf.gather(x_adv, idx), *rows.targets_at(idx)))
        return tuple(tf.tensor_scatter_nd_update(u, idx[:, None], v) for u, v in zip(unscored, scored))

    # TensorFlow's CPU convolutions fail on an empty batch: skip the pass when none need it.
    return Best(x_adv, *tf.cond(tf.size(idx) > 0, scored_rows, lambda: unscored))


def _verdict(evaluation: Evaluation) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    return evaluation.objective, evaluation.success, evaluation.prediction

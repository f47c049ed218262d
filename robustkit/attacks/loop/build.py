"""The whole-batch attack function: restarts around one restart runner, as one compiled graph."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from robustkit.attacks.loop.early_stop import early_stop_restart
from robustkit.attacks.loop.fixed import fixed_restart
from robustkit.attacks.loop.problem import LoopConfig, Problem
from robustkit.attacks.loop.records import Best
from robustkit.attacks.loop.rule import StepRule
from robustkit.logits import LogitsView
from robustkit.tracing import note_trace


def build_attack_fn(view: LogitsView, cfg: LoopConfig, rule: StepRule, lower: np.ndarray, upper: np.ndarray):
    """Return the (uncompiled) attack function of ``(x, labels, eps, step_size, keys[, first][, guide])``.

    It returns ``(x_adv, success, objective, prediction, norms, grad_evals)`` per example. eps,
    step size and the examples' random keys (:func:`robustkit.row_random.example_keys`) are
    tensors, so sweeping them never retraces; restarts and steps are
    ``tf.while_loop``s, so one call runs the whole attack with no Python per step.
    """
    one_restart = early_stop_restart if cfg.early_stop else fixed_restart

    def attack(x, labels, eps, step_size, keys, *extra):
        note_trace()
        problem = Problem(view, cfg, x, eps, step_size, keys, lower, upper)
        first = extra[0] if cfg.first_given else None
        rows = problem.rows(x, labels, extra[-1] if problem.guided else None)
        # Without a random start every restart's first step is taken from x itself, whose
        # evaluation does not depend on eps: a caller sweeping eps computes it once.
        at_x = problem.given(first, labels) if cfg.first_given else None

        def restart(r, best, evals):
            best, evals = one_restart(problem, rule, x, rows, r, best, evals, at_x)
            return r + 1, best, evals

        best, evals = Best.empty(x), tf.zeros([tf.shape(x)[0]], tf.int32)
        if cfg.restarts == 1:
            _, best, evals = restart(tf.constant(0), best, evals)
        else:
            _, best, evals = tf.while_loop(
                lambda r, best, evals: r < cfg.restarts, restart, (tf.constant(0), best, evals), parallel_iterations=1
            )
        return best.x, best.success, best.objective, best.prediction, cfg.norm.measure(best.x - x), evals

    return attack

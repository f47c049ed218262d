"""The one gradient-ascent loop behind FGSM and PGD, built as a single compiled graph.

``build_attack_fn`` returns a function of ``(x, labels, eps, step_size, seed)`` meant to be
wrapped in ``tf.function``: restarts and steps are ``tf.while_loop``s, so one call runs the whole
attack on a batch with no Python per step, and eps / step size / seed are tensors, so sweeping
them never retraces.

Steps are unrolled ``UNROLL`` at a time inside a ``tf.while_loop`` over chunks. Per example
the loop keeps the best point seen (a successful one first, then the highest objective), so PGD
is never weaker than any of its own iterates or restarts. The last iterate of a restart has no
gradient yet and costs a forward pass of its own; only examples with no successful point so far
take it (an example that has one keeps it). With early stopping, an example that is already
adversarial leaves the batch: the examples still being attacked are gathered into a smaller
batch every few steps, so the work shrinks with the answer. Without a random start, the first
step of every eps is taken from x itself; a caller sweeping eps can pass the objective and
gradient at x (``LoopConfig.first_given``) instead of paying for them at every eps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from robustkit.gradients import note_trace
from robustkit.gradients import objective_and_gradient
from robustkit.logits import LogitsView
from robustkit.losses import attack_objective
from robustkit.norms import Norm

# Steps are unrolled in chunks of this many inside a tf.while_loop over chunks: a while-loop
# iteration costs noticeably more than straight-line graph code (about 20% of a small CNN's
# forward+backward pass on CPU), while unrolling everything would make compile time grow with
# the step count.
UNROLL = 10

# With early stopping, the examples still being attacked are gathered into a compact batch this
# often (in steps). Between compactions an example that succeeds is frozen but still part of the
# batch: gathering and scattering at every step costs more than that on small models.
COMPACT_EVERY = 5


@dataclass(frozen=True)
class LoopConfig:
    norm: Norm
    loss: str
    targeted: bool
    steps: int
    restarts: int
    random_start: bool
    early_stop: bool
    keep_best: bool
    gather: bool  # work on the rows that need it by gathering them (dynamic shapes: not under XLA)
    score_last: bool = True  # False: return the last iterate unscored (adversarial training)
    # True: the function takes the objective, gradient and prediction at x itself as a sixth
    # argument and spends no gradient evaluation on the first step (valid without random start).
    first_given: bool = False


def _succeeded(logits: tf.Tensor, labels: tf.Tensor, targeted: bool) -> tuple[tf.Tensor, tf.Tensor]:
    pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return _hit(pred, labels, targeted), pred


def _hit(pred: tf.Tensor, labels: tf.Tensor, targeted: bool) -> tf.Tensor:
    return tf.equal(pred, labels) if targeted else tf.not_equal(pred, labels)


def _better(obj, succ, best_obj, best_succ):
    """A successful point beats an unsuccessful one; otherwise the higher objective wins."""
    return tf.logical_or(
        tf.logical_and(succ, tf.logical_not(best_succ)),
        tf.logical_and(tf.equal(succ, best_succ), obj > best_obj),
    )


def _rows(mask: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """A per-example vector reshaped to broadcast against a batch (static rank: one op)."""
    return tf.reshape(mask, [-1] + [1] * (like.shape.rank - 1))


def build_attack_fn(view: LogitsView, cfg: LoopConfig, lower: np.ndarray, upper: np.ndarray):
    """Return the (uncompiled) whole-batch attack function for one model and configuration."""
    norm = cfg.norm

    def attack(x, labels, eps, step_size, seed, first=None):
        note_trace()
        dtype = x.dtype
        lo = tf.constant(lower, dtype)
        hi = tf.constant(upper, dtype)
        eps = tf.cast(eps, dtype)
        step_size = tf.cast(step_size, dtype)
        batch = tf.shape(x)[0]

        def project(x_new, x_orig):
            return tf.clip_by_value(x_orig + norm.project(x_new - x_orig, eps), lo, hi)

        # Under L-inf the ball and the bounds are both boxes, so projecting onto both is one
        # clip to their intersection, computed once per batch.
        box = (tf.maximum(x - eps, lo), tf.minimum(x + eps, hi)) if norm.name == "linf" else None

        def ascend(xa, grad, xo, box_rows, guard=True):
            if guard:  # a NaN/Inf gradient must not carry x_adv out of the finite numbers
                grad = tf.where(tf.math.is_finite(grad), grad, tf.constant(0, grad.dtype))
            moved = xa + step_size * norm.ascent_direction(grad, xa, lo, hi)
            if box_rows is not None:
                return tf.clip_by_value(moved, box_rows[0], box_rows[1])
            return project(moved, xo)

        def evaluate(x_at, lab):
            logits = view(x_at)
            obj = attack_objective(cfg.loss, logits, lab, cfg.targeted)
            succ, pred = _succeeded(logits, lab, cfg.targeted)
            return tf.cast(obj, dtype), succ, pred

        def gradient_at(xa, la):
            obj, grad, logits = objective_and_gradient(view, xa, la, cfg.loss, cfg.targeted)
            succ, pred = _succeeded(logits, la, cfg.targeted)
            return tf.cast(obj, dtype), grad, succ, pred

        # Without a random start every restart's first step is taken from x itself, whose
        # objective and gradient do not depend on eps: a caller sweeping eps computes them once.
        at_x = None
        if cfg.first_given:
            first_obj, first_grad, first_pred = first
            at_x = (tf.cast(first_obj, dtype), tf.cast(first_grad, dtype), _hit(first_pred, labels, cfg.targeted), first_pred)

        def merge(best, candidate):
            """Keep, per example, the better of two (x, objective, success, prediction)."""
            take = _better(candidate[1], candidate[2], best[1], best[2]) if cfg.keep_best else tf.ones_like(candidate[2])
            take = tf.logical_and(take, tf.math.is_finite(candidate[1]))  # never keep a NaN point
            return (tf.where(_rows(take, x), candidate[0], best[0]),) + tuple(
                tf.where(take, c, b) for c, b in zip(candidate[1:], best[1:])
            )

        def run_steps(advance, state, active_of, steps):
            """``steps`` steps, ``advance(state, n)`` taking ``n`` of them at a time.

            The steps are unrolled in chunks of ``UNROLL`` inside a while loop over chunks, which
            stops early once no example is active (early stopping).
            """
            chunks, remainder = divmod(steps, UNROLL)
            if chunks == 1:  # a loop of one iteration would only add control-flow work
                state = advance(state, UNROLL)
            elif chunks:
                def more(i, state):
                    return tf.logical_and(i < chunks, tf.reduce_any(active_of(state))) if cfg.early_stop else i < chunks

                state = tf.while_loop(more, lambda i, state: (i + 1, advance(state, UNROLL)), (tf.constant(0), state),
                                      parallel_iterations=1)[1]
            return advance(state, remainder) if remainder else state

        def start_point(restart):
            if not cfg.random_start:
                return x
            restart_seed = tf.random.experimental.stateless_fold_in(seed, restart)
            return project(x + norm.random_start(x, eps, restart_seed), x)

        def fixed_restart(restart, best, evals):
            """Every example takes every step; the best iterate is kept (fixed-work mode)."""

            def step(state, evaluation=None):
                x_adv, best = state
                obj, grad, succ, pred = evaluation if evaluation is not None else gradient_at(x_adv, labels)
                if cfg.keep_best:
                    best = merge(best, (x_adv, obj, succ, pred))
                # With best-point keeping, an iterate made non-finite by a bad gradient has a NaN
                # objective and is never kept, so the step can skip the (whole-batch) guard.
                return ascend(x_adv, grad, x, box, guard=not cfg.keep_best), best

            def advance(state, n):
                for _ in range(n):
                    state = step(state)
                return state

            state, steps = (start_point(restart), best), cfg.steps
            if at_x is not None:
                state, steps = step(state, at_x), steps - 1
            x_adv, best = run_steps(advance, state, lambda s: tf.constant(True), steps)
            if not cfg.score_last:
                return restart + 1, (x_adv,) + tuple(best[1:]), evals + steps
            return restart + 1, merge(best, score_last_iterate(x_adv, best)), evals + steps

        def score_last_iterate(x_adv, best):
            """Score the last iterate, which has no gradient (and so no logits) yet.

            With best-point keeping, an example that already has a successful point keeps it, so
            only the others need this forward pass: on an attack that succeeds it is cheap.
            """
            if not cfg.keep_best:
                obj, succ, pred = evaluate(x_adv, labels)
                return x_adv, obj, succ, pred
            need = tf.logical_not(best[2])
            unscored = (
                tf.fill([batch], tf.constant(-np.inf, dtype)),  # not finite: never kept by merge
                tf.zeros([batch], tf.bool),
                tf.fill([batch], tf.constant(-1, tf.int32)),
            )
            if not cfg.gather:  # static shapes (XLA): score every row, keep the needed ones
                scored = evaluate(x_adv, labels)
                return (x_adv,) + tuple(tf.where(need, v, u) for v, u in zip(scored, unscored))
            idx = tf.where(need)[:, 0]

            def scored_rows():
                scored = evaluate(tf.gather(x_adv, idx), tf.gather(labels, idx))
                return tuple(tf.tensor_scatter_nd_update(u, idx[:, None], v) for u, v in zip(unscored, scored))

            # TensorFlow's CPU convolutions fail on an empty batch: skip the pass when none need it.
            return (x_adv,) + tuple(tf.cond(tf.size(idx) > 0, scored_rows, lambda: unscored))

        def early_stop_restart(restart, best, evals):
            """Examples leave the batch once adversarial; the batch shrinks as they do.

            Every ``COMPACT_EVERY`` steps the examples still being attacked are gathered into a
            compact batch; within those steps an example that succeeds is frozen (its point and
            evaluation kept), and at their end the compact batch is scattered back. Compacting at
            every step would cost more in gathers and scatters than the few frozen rows cost.
            State tensors carry one extra row that is always active and never reported: the
            batch is then never empty (TensorFlow's CPU convolutions fail on empty batches).
            Under XLA (static shapes) nothing is gathered: inactive rows are frozen throughout.
            """
            pad = lambda t: tf.concat([t, t[:1]], axis=0)  # noqa: E731
            x_ext, labels_ext = pad(x), pad(labels)
            box_ext = None if box is None else (pad(box[0]), pad(box[1]))
            attacked = tf.logical_not(best[2])
            stand_in = tf.concat([tf.zeros([batch], tf.bool), [True]], axis=0)
            active = tf.concat([attacked, [True]], axis=0)
            obj_r = tf.fill([batch + 1], tf.constant(-np.inf, dtype))
            pred_r = tf.fill([batch + 1], tf.constant(-1, tf.int32))
            evals_ext = tf.concat([evals, [0]], axis=0)

            at_x_ext = None if at_x is None else tuple(pad(t) for t in at_x)

            def segment(state, n, evaluation=None):
                """``n`` steps on the active examples, gathered into one compact batch.

                ``evaluation``, when given, replaces the first step's gradient evaluation.
                """
                x_adv, active, obj_r, pred_r, evals_ext = state
                if cfg.gather:
                    idx = tf.where(active)[:, 0]  # sorted, so the stand-in row comes last
                    take = lambda t: tf.gather(t, idx)  # noqa: E731
                    done = tf.zeros_like(idx, tf.bool)  # every gathered row is being attacked
                    may_stop = tf.not_equal(idx, tf.cast(batch, idx.dtype))
                    obj_c = pred_c = None  # the first step sets them for every row
                else:
                    take = lambda t: t  # noqa: E731
                    done, may_stop = tf.logical_not(active), tf.logical_not(stand_in)
                    obj_c, pred_c = obj_r, pred_r
                xa, la = take(x_adv), take(labels_ext)
                xo = take(x_ext) if box_ext is None else None
                box_rows = None if box_ext is None else (take(box_ext[0]), take(box_ext[1]))
                evals_c = tf.zeros_like(la)
                for i in range(n):
                    if i == 0 and evaluation is not None:
                        obj, grad, succ, pred = (take(t) for t in evaluation)
                    else:
                        obj, grad, succ, pred = gradient_at(xa, la)
                        evals_c += tf.cast(tf.logical_not(done), evals_c.dtype)
                    if obj_c is None:
                        obj_c, pred_c = obj, pred
                    else:
                        live = tf.logical_not(done)
                        obj_c, pred_c = tf.where(live, obj, obj_c), tf.where(live, pred, pred_c)
                    done = tf.logical_or(done, tf.logical_and(succ, may_stop))
                    xa = tf.where(_rows(done, xa), xa, ascend(xa, grad, xo, box_rows, guard=not cfg.keep_best))
                if not cfg.gather:
                    return xa, tf.logical_not(done), obj_c, pred_c, evals_ext + evals_c
                rows = idx[:, None]
                return (
                    tf.tensor_scatter_nd_update(x_adv, rows, xa),
                    tf.tensor_scatter_nd_update(active, rows, tf.logical_not(done)),
                    tf.tensor_scatter_nd_update(obj_r, rows, obj_c),
                    tf.tensor_scatter_nd_update(pred_r, rows, pred_c),
                    tf.tensor_scatter_nd_add(evals_ext, rows, evals_c),
                )

            def advance(state, n):
                for start in range(0, n, COMPACT_EVERY):
                    state = segment(state, min(COMPACT_EVERY, n - start))
                return state

            state, steps = (pad(start_point(restart)), active, obj_r, pred_r, evals_ext), cfg.steps
            if at_x_ext is not None:
                state, steps = segment(state, 1, at_x_ext), steps - 1
            x_adv, active, obj_r, pred_r, evals_ext = run_steps(advance, state, lambda s: s[1][:batch], steps)
            # Examples still active after the last step: one forward pass scores their last iterate.
            idx = tf.where(active)[:, 0]
            obj, succ, pred = evaluate(tf.gather(x_adv, idx), tf.gather(labels_ext, idx))
            rows = idx[:, None]
            obj_r = tf.tensor_scatter_nd_update(obj_r, rows, obj)
            pred_r = tf.tensor_scatter_nd_update(pred_r, rows, pred)
            succ_r = tf.tensor_scatter_nd_update(tf.logical_not(active), rows, succ)
            candidate = (x_adv[:batch], obj_r[:batch], tf.logical_and(succ_r[:batch], attacked), pred_r[:batch])
            # Examples that were not attacked in this restart keep what they had.
            candidate = tuple(tf.where(_rows(attacked, c), c, b) for c, b in zip(candidate, best))
            return restart + 1, merge(best, candidate), evals_ext[:batch]

        one_restart = early_stop_restart if cfg.early_stop else fixed_restart
        best = (
            x,
            tf.fill([batch], tf.constant(-np.inf, dtype)),
            tf.zeros([batch], tf.bool),
            tf.fill([batch], tf.constant(-1, tf.int32)),
        )
        evals = tf.zeros([batch], tf.int32)
        if cfg.restarts == 1:
            _, best, evals = one_restart(tf.constant(0), best, evals)
        else:
            _, best, evals = tf.while_loop(
                lambda r, best, evals: r < cfg.restarts, one_restart, (tf.constant(0), best, evals), parallel_iterations=1
            )
        best_x, best_obj, best_succ, best_pred = best
        return best_x, best_succ, best_obj, best_pred, norm.measure(best_x - x), evals

    return attack

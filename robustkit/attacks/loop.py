"""The one gradient-ascent loop behind FGSM and PGD, built as a single compiled graph.

``build_attack_fn`` returns a function of ``(x, labels, eps, step_size, seed)`` meant to be
wrapped in ``tf.function``: restarts and steps are ``tf.while_loop``s, so one call runs the whole
attack on a batch with no Python per step, and eps / step size / seed are tensors, so sweeping
them never retraces.

Steps are unrolled ``UNROLL`` at a time inside a ``tf.while_loop`` over chunks. Per example the loop keeps the best point seen (a successful one first, then the highest
objective), so PGD is never weaker than any of its own iterates or restarts. With early
stopping, an example that is already adversarial leaves the batch: later steps gather only the
examples still being attacked, so the work shrinks with the answer.
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
    gather: bool  # early stopping by shrinking the batch (not possible under XLA)


def _succeeded(logits: tf.Tensor, labels: tf.Tensor, targeted: bool) -> tuple[tf.Tensor, tf.Tensor]:
    pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return (tf.equal(pred, labels) if targeted else tf.not_equal(pred, labels)), pred


def _better(obj, succ, best_obj, best_succ):
    """A successful point beats an unsuccessful one; otherwise the higher objective wins."""
    return tf.logical_or(
        tf.logical_and(succ, tf.logical_not(best_succ)),
        tf.logical_and(tf.equal(succ, best_succ), obj > best_obj),
    )


def _active_rows(active: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Indices of the active examples, never empty, and which of them are real.

    TensorFlow's CPU convolutions fail on an empty batch, so when no example is active one
    stand-in row (index 0) is computed and every update from it is masked out.
    """
    idx = tf.where(active)[:, 0]
    count = tf.size(idx)
    padded = tf.concat([idx, tf.zeros([1], idx.dtype)], axis=0)[: tf.maximum(count, 1)]
    return padded, tf.range(tf.size(padded)) < count


def _rows(mask: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    return tf.reshape(mask, tf.concat([[-1], tf.ones([tf.rank(like) - 1], tf.int32)], 0))


def build_attack_fn(view: LogitsView, cfg: LoopConfig, lower: np.ndarray, upper: np.ndarray):
    """Return the (uncompiled) whole-batch attack function for one model and configuration."""
    norm = cfg.norm

    def attack(x, labels, eps, step_size, seed):
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

        def evaluate(x_at, lab):
            logits = view(x_at)
            obj = attack_objective(cfg.loss, logits, lab, cfg.targeted)
            succ, pred = _succeeded(logits, lab, cfg.targeted)
            return tf.cast(obj, dtype), succ, pred

        def record(best, idx, x_at, obj, succ, pred, valid=None):
            """Fold (x_at, obj, succ, pred) of the rows ``idx`` into the running best."""
            best_x, best_obj, best_succ, best_pred = best
            if idx is None:
                take = _better(obj, succ, best_obj, best_succ) if cfg.keep_best else tf.ones_like(succ)
                return (
                    tf.where(_rows(take, x_at), x_at, best_x),
                    tf.where(take, obj, best_obj),
                    tf.where(take, succ, best_succ),
                    tf.where(take, pred, best_pred),
                )
            old = (tf.gather(best_x, idx), tf.gather(best_obj, idx), tf.gather(best_succ, idx), tf.gather(best_pred, idx))
            take = _better(obj, succ, old[1], old[2]) if cfg.keep_best else tf.ones_like(succ)
            if valid is not None:
                take = tf.logical_and(take, valid)
            rows = idx[:, None]
            return (
                tf.tensor_scatter_nd_update(best_x, rows, tf.where(_rows(take, x_at), x_at, old[0])),
                tf.tensor_scatter_nd_update(best_obj, rows, tf.where(take, obj, old[1])),
                tf.tensor_scatter_nd_update(best_succ, rows, tf.where(take, succ, old[2])),
                tf.tensor_scatter_nd_update(best_pred, rows, tf.where(take, pred, old[3])),
            )

        def one_restart(restart, best, evals):
            restart_seed = tf.random.experimental.stateless_fold_in(seed, restart)
            x_adv = x
            if cfg.random_start:
                x_adv = project(x + norm.random_start(x, eps, restart_seed), x)
            active = tf.logical_not(best[2]) if cfg.early_stop else tf.ones([batch], tf.bool)

            def unrolled(state, n):
                for _ in range(n):
                    state = step(*state)
                return state

            def step(x_adv, active, best, evals):
                if cfg.gather:
                    idx, valid = _active_rows(active)
                    xa, la, xo = tf.gather(x_adv, idx), tf.gather(labels, idx), tf.gather(x, idx)
                else:
                    idx, valid, xa, la, xo = None, None, x_adv, labels, x
                obj, grad, logits = objective_and_gradient(view, xa, la, cfg.loss, cfg.targeted)
                succ, pred = _succeeded(logits, la, cfg.targeted)
                obj = tf.cast(obj, dtype)
                if cfg.keep_best:
                    best = record(best, idx, xa, obj, succ, pred, valid)
                grad = tf.where(tf.math.is_finite(grad), grad, tf.zeros_like(grad))
                moved = xa + step_size * norm.ascent_direction(grad, xa, lo, hi)
                if box is not None and idx is None:
                    x_next = tf.clip_by_value(moved, box[0], box[1])
                else:
                    x_next = project(moved, xo)
                if cfg.gather:
                    stay = tf.logical_or(succ, tf.logical_not(valid))
                    x_next = tf.where(_rows(stay, xa), xa, x_next)
                    rows = idx[:, None]
                    x_adv = tf.tensor_scatter_nd_update(x_adv, rows, x_next)
                    still = tf.where(valid, tf.logical_not(succ), tf.gather(active, idx))
                    active = tf.tensor_scatter_nd_update(active, rows, still)
                    evals = tf.tensor_scatter_nd_add(evals, rows, tf.cast(valid, tf.int32))
                elif cfg.early_stop:  # masked early stopping (XLA): same answer, no saving
                    moving = tf.logical_and(active, tf.logical_not(succ))
                    x_adv = tf.where(_rows(moving, xa), x_next, xa)
                    evals = evals + tf.cast(active, tf.int32)
                    active = moving
                else:
                    x_adv = x_next
                    evals = evals + 1
                return x_adv, active, best, evals

            state = (x_adv, active, best, evals)
            chunks, remainder = divmod(cfg.steps, UNROLL)
            if chunks == 1 and remainder == 0:
                state = unrolled(state, UNROLL)
            elif chunks:
                def more(i, *state):
                    return tf.logical_and(i < chunks, tf.reduce_any(state[1])) if cfg.early_stop else i < chunks

                def chunk(i, *state):
                    return (i + 1,) + unrolled(state, UNROLL)

                state = tf.while_loop(more, chunk, (tf.constant(0),) + state, parallel_iterations=1)[1:]
            if remainder:
                state = unrolled(state, remainder)
            x_adv, active, best, evals = state
            # The last iterate has no gradient yet: one forward pass scores it.
            if cfg.gather and cfg.keep_best:
                idx, valid = _active_rows(active)
                xa = tf.gather(x_adv, idx)
                obj, succ, pred = evaluate(xa, tf.gather(labels, idx))
                best = record(best, idx, xa, obj, succ, pred, valid)
            else:
                obj, succ, pred = evaluate(x_adv, labels)
                best = record(best, None, x_adv, obj, succ, pred)
            return restart + 1, best, evals

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
                lambda r, best, evals: r < cfg.restarts,
                one_restart,
                (tf.constant(0), best, evals),
                parallel_iterations=1,
            )
        best_x, best_obj, best_succ, best_pred = best
        return best_x, best_succ, best_obj, best_pred, norm.measure(best_x - x), evals

    return attack

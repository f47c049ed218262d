"""FMN (Pintor et al., NeurIPS 2021): the Fast Minimum-Norm attack, L-inf, L2 and L1.

FMN looks for the smallest adversarial perturbation with a PGD-like loop whose ball adapts: it
takes a normalised gradient step on the logit margin (``max_{j != y} z_j - z_y``, or towards a
target), then projects onto an eps_k-ball, where eps_k shrinks by the factor ``1 - gamma_k`` while
the point is adversarial (never above the smallest norm found), grows by ``1 + gamma_k`` once an
adversarial point has been found but the current one is not, and before any is found jumps to
the current norm plus a linear estimate of the distance to the boundary, ``|margin| / ||grad||_*``
(the dual norm). Under L2 and L1, coordinates pinned at a bound that the gradient pushes outwards
are left out of the gradient, so that the estimate and the step see only the coordinates that can
move (otherwise, on data at its bounds, such as images with black pixels, the estimate falls short
at every step and the search creeps towards the boundary without crossing it). From a point on the
boundary that is not adversarial (a tie, or a margin that rounds to a hair below zero), where the
estimate adds next to nothing, the ball grows by ``1 + gamma_k`` rather than stay there. The step
size ``alpha_k`` and ``gamma_k`` follow cosine schedules from their initial to their final values.
The result keeps the smallest adversarial perturbation seen; with ``n_targets``, further runs steer
towards the most likely other classes (as APGD-T and FAB-T do) and the closest point of all is kept.

A minimum-norm attack answers every eps at once: ``result.radius`` is each example's smallest
adversarial norm found (``inf`` if none); an example is broken at eps when its radius is at most
eps. eps plays no part in the search, so a sweep runs FMN once for its whole grid.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> x = np.full((3, 4), 0.5, "float32")
    >>> result = FMN(eps=0.3, steps=20, seed=0).run(model, x, [0, 1, 2])
    >>> bool(np.all(result.norms <= 0.3)), bool(np.all(result.success == (result.radius <= 0.3)))
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks.declared import Interval
from robustkit.attacks.gradient_attack import GradientAttack
from robustkit.attacks.loop import LoopConfig, Problem, StepRule
from robustkit.attacks.loop.records import hit, per_row, where_rows
from robustkit.attacks.parameter_rules import NoneOr
from robustkit.errors import ConfigError
from robustkit.logits import LogitsView
from robustkit.norms import Norm
from robustkit.ranges import Eps
from robustkit.tape import objective_and_gradient
from robustkit.tracing import note_trace

DUAL = {"linf": "l1", "l2": "l2", "l1": "linf"}
STALLED = 1e-4  # a distance estimate this small relative to the current norm means the search is stuck


def _size(name: str, flat: tf.Tensor) -> tf.Tensor:
    """Per row, the ``name`` norm of a flat batch."""
    if name == "linf":
        return tf.reduce_max(tf.abs(flat), axis=1)
    if name == "l1":
        return tf.reduce_sum(tf.abs(flat), axis=1)
    return tf.sqrt(tf.reduce_sum(tf.square(flat), axis=1))


@dataclass(frozen=True)
class FMNRule:
    """FMN's own loop: it keeps the smallest adversarial point, not the highest objective."""

    steps: int
    alpha_init: float
    alpha_final: float
    gamma_init: float
    gamma_final: float
    n_targets: int = 0
    starts_at_x = False  # its loop of its own takes no shared first step

    def build(self, view: LogitsView, cfg: LoopConfig, lower: np.ndarray, upper: np.ndarray):
        """The attack function of ``(x, labels, eps, step_size, keys)``; its objective is minus the radius."""
        rule = self

        def attack(x, labels, eps, step_size, keys):
            note_trace()
            return rule._attack(Problem(view, cfg, x, eps, step_size, keys, lower, upper), x, labels)

        return attack

    def _attack(self, problem: Problem, x0: tf.Tensor, labels: tf.Tensor):
        """The published run on ``labels``, then one run towards each of the ``n_targets`` most likely other
        classes; the closest adversarial point of any run is kept."""
        norm, dtype, targeted = problem.norm, x0.dtype, problem.cfg.targeted
        batch = tf.shape(x0)[0]
        best, best_norm = self._search(problem, x0, labels, targeted)
        runs = 1
        if self.n_targets:
            order = tf.argsort(problem.view(x0), axis=-1, direction="DESCENDING", stable=True)
            for rank in range(1, min(self.n_targets + 1, int(order.shape[-1]))):
                runs += 1
                towards = order[:, rank]
                point, size = self._search(problem, x0, towards, True)
                # a run towards the true class itself (an example misclassified at x) finds nothing
                closer = (size < best_norm) & tf.not_equal(towards, labels)
                best, best_norm = where_rows(closer, point, best), tf.where(closer, size, best_norm)
        success = best_norm <= problem.eps
        x_adv = where_rows(success, best, x0)
        prediction = tf.argmax(problem.view(x_adv), axis=-1, output_type=tf.int32)
        success = success & hit(prediction, labels, targeted)
        objective = tf.where(tf.math.is_finite(best_norm), -best_norm, tf.fill([batch], tf.constant(-np.inf, dtype)))
        return x_adv, success, objective, prediction, norm.measure(x_adv - x0), tf.fill([batch], self.steps * runs)

    def _search(self, problem: Problem, x0: tf.Tensor, labels: tf.Tensor, targeted: bool):
        """One FMN run: the closest point found that ``labels`` calls adversarial, and its norm (inf: none)."""
        norm, dtype = problem.norm, x0.dtype
        batch = tf.shape(x0)[0]
        low = tf.broadcast_to(problem.lo, tf.shape(x0))
        high = tf.broadcast_to(problem.hi, tf.shape(x0))
        width = tf.reduce_mean(high - low)  # steps scale with the input range (1 on [0, 1] data)
        worst = norm.measure(tf.maximum(x0 - low, high - x0))  # no point in the bounds is farther

        def flat(t: tf.Tensor) -> tf.Tensor:
            return tf.reshape(t, [batch, -1])

        def step(k, delta, radius_k, best, best_norm, found):
            cosine = (1.0 + tf.cos(math.pi * tf.cast(k, dtype) / self.steps)) / 2.0
            alpha = (self.alpha_final + (self.alpha_init - self.alpha_final) * cosine) * width
            gamma = self.gamma_final + (self.gamma_init - self.gamma_final) * cosine
            point = x0 + delta
            margin, gradient, logits = objective_and_gradient(problem.view, point, labels, "margin", targeted)
            margin = tf.cast(margin, dtype)
            # Under L2 and L1, coordinates at a bound that the gradient pushes further out cannot move:
            # the distance estimate and the step use the rest (else the estimate falls short at every
            # step). Under L-inf each coordinate is clipped on its own, and the published rule holds.
            if norm.name != "linf":
                pinned = ((point >= high) & (gradient > 0)) | ((point <= low) & (gradient < 0))
                gradient = tf.where(pinned, tf.zeros_like(gradient), gradient)
            adversarial = hit(tf.argmax(logits, axis=-1, output_type=tf.int32), labels, targeted)
            size = norm.measure(delta)
            closer = adversarial & (size < best_norm)
            best = where_rows(closer, point, best)
            best_norm = tf.where(closer, size, best_norm)
            found = found | adversarial
            reach = size + tf.abs(margin) / tf.maximum(_size(DUAL[norm.name], flat(gradient)), 1e-12)
            # A point on the boundary (a tie, or a margin that rounds to a hair below it) would stay
            # there: when the estimate adds next to nothing, go gamma beyond.
            stalled = ~adversarial & (reach <= size * (1.0 + STALLED))
            reach = tf.where(stalled, size * (1.0 + gamma), reach)
            radius_k = tf.where(
                adversarial,
                tf.minimum(radius_k * (1.0 - gamma), best_norm),
                tf.where(found, radius_k * (1.0 + gamma), reach),
            )
            radius_k = tf.minimum(radius_k, worst)
            direction = gradient / per_row(tf.maximum(_size("l2", flat(gradient)), 1e-12), gradient)
            moved = delta + alpha * direction
            # projection onto the radius_k-ball: the unit ball's, scaled (radius 0 is x itself)
            scale = per_row(tf.maximum(radius_k, 1e-30), moved)
            delta = tf.where(per_row(radius_k, moved) > 0, norm.project(moved / scale, 1.0) * scale, 0.0 * moved)
            delta = tf.clip_by_value(x0 + delta, low, high) - x0
            return k + 1, delta, radius_k, best, best_norm, found

        start = (
            tf.constant(0),
            tf.zeros_like(x0),
            tf.fill([batch], tf.constant(np.inf, dtype)),
            x0,
            tf.fill([batch], tf.constant(np.inf, dtype)),
            tf.zeros([batch], tf.bool),
        )
        _, delta, _, best, best_norm, _ = tf.while_loop(
            lambda k, *_: k < self.steps, step, start, parallel_iterations=1
        )
        # the last point is scored too (the loop scores each point before it moves)
        last = x0 + delta
        logits = problem.view(last)
        adversarial = hit(tf.argmax(logits, axis=-1, output_type=tf.int32), labels, targeted)
        size = norm.measure(delta)
        closer = adversarial & (size < best_norm)
        best, best_norm = where_rows(closer, last, best), tf.where(closer, size, best_norm)
        return best, best_norm


class FMN(GradientAttack):
    """The Fast Minimum-Norm attack under L-inf, L2 or L1 (see the module docstring).

    Args:
        eps: an example is broken when FMN finds an adversarial point this close; ``result.radius``
            holds the smallest distance found, whatever eps. None: every adversarial point found counts,
            and the radius answers every eps.
        steps: gradient steps (each one forward and backward pass).
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        alpha_init, alpha_final: the step size's cosine schedule, in units of the input range.
        gamma_init, gamma_final: how fast the ball shrinks or grows, cosine-scheduled.
        n_targets: after the published run, one run towards each of this many most likely other
            classes (as APGD-T and FAB-T do), keeping the closest adversarial point; 0 (the default)
            is FMN as published. Each run costs ``steps`` gradient evaluations.
        targeted, target: steer towards target labels (given at call time or chosen).
        bounds, batch_size, seed: as for every attack.
    """

    name = "fmn"
    kind = "minimum-norm"
    own_loss = "margin"
    every_eps_at_once = True  # eps plays no part in its search: one run gives every eps's answer
    parameter_constraints = {
        "alpha_init": Interval(0, closed="right"),
        "alpha_final": NoneOr(Interval(0, closed="right")),  # None: alpha_init / 100, as published
        "gamma_init": Interval(0, 1, closed="neither"),
        "gamma_final": Interval(0, 1, closed="neither"),
        "n_targets": Interval(0, integer=True),  # 0: FMN as published
    }

    def __init__(
        self,
        eps: Eps | str | None = None,
        steps: int = 100,
        norm: str | Norm = "linf",
        alpha_init: float = 1.0,
        alpha_final: float | None = None,
        gamma_init: float = 0.05,
        gamma_final: float = 0.001,
        n_targets: int = 0,
        targeted: bool = False,
        target: str | None = None,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        straight_through: bool = False,
    ):
        super().__init__(
            eps=eps,
            steps=steps,
            norm=norm,
            loss="margin",
            targeted=targeted,
            target=target,
            bounds=bounds,
            batch_size=batch_size,
            seed=seed,
            straight_through=straight_through,
        )
        alpha_final = alpha_init / 100 if alpha_final is None else alpha_final
        if n_targets and self.targeted:
            raise ConfigError("n_targets chooses target classes itself; a targeted FMN takes n_targets=0.")
        self.n_targets = n_targets
        self.alpha_init, self.alpha_final = float(alpha_init), float(alpha_final)
        self.gamma_init, self.gamma_final = float(gamma_init), float(gamma_final)

    def step_rule(self) -> StepRule:
        raise ConfigError("FMN has no step rule: its loop is its own (loop_rule).")

    def loop_rule(self) -> FMNRule:
        return FMNRule(self.steps, self.alpha_init, self.alpha_final, self.gamma_init, self.gamma_final, self.n_targets)

    def config(self) -> dict:
        return {**super().config(), "n_targets": self.n_targets}

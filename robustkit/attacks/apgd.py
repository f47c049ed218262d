"""APGD (Croce & Hein, 2020): PGD with momentum and a step size that adapts at checkpoints.

Each restart starts at a random point on the sphere of radius eps (clipped to the bounds) with
step size ``2 * eps`` (L-inf, L2; ``eps`` under L1). Every step moves along the steepest-ascent
direction, then mixes in momentum:

``z = P(x_k + eta * dir(g_k))``, ``x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))``,

with ``a = 1`` for the first step and 0.75 after. At the checkpoints of
:mod:`robustkit.attacks.apgd_schedule` an example whose objective stopped rising has its step
halved and continues from its highest-objective point. The shared loop keeps the best point
(a successful one first), restarts, stops early and counts the work, as for PGD. Under L1
APGD follows "Mind the box" instead (:mod:`robustkit.attacks.apgd_l1`).

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> x = np.full((2, 4), 0.5, "float32")
    >>> x_adv = APGD(eps=0.1, steps=20, seed=0)(model, x, [0, 1])
    >>> float(np.abs(x_adv - x).max()) <= 0.1 + 1e-6
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from robustkit.attacks.apgd_l1 import APGDL1Rule
from robustkit.attacks.apgd_schedule import halve_step, interval_table
from robustkit.attacks.declared import Interval
from robustkit.attacks.gradient_attack import GradientAttack
from robustkit.attacks.loop import Evaluation, Problem, Rows
from robustkit.attacks.loop.records import per_row, where_rows
from robustkit.attacks.target_sweep import TargetSweep
from robustkit.norms import Norm
from robustkit.ranges import Eps

MOMENTUM = 0.75


class APGDState(NamedTuple):
    x: tf.Tensor  # the current point
    x_prev: tf.Tensor  # the point the last step started from (for momentum)
    eta: tf.Tensor  # step size, per example
    t: tf.Tensor  # steps taken
    objective_prev: tf.Tensor  # the objective at the previous point
    rises: tf.Tensor  # steps since the last checkpoint in which the objective rose
    x_max: tf.Tensor  # the highest-objective point so far, its gradient and objective
    grad_max: tf.Tensor
    objective_max: tf.Tensor
    objective_max_at_check: tf.Tensor  # objective_max at the last checkpoint
    halved_at_check: tf.Tensor  # whether the last checkpoint halved the step


@dataclass(frozen=True)
class APGDRule:
    """APGD's step rule for a run of ``steps`` steps (the checkpoints depend on it)."""

    steps: int
    rho: float = 0.75
    needs_gradient = True
    starts_at_x = False

    def init(self, problem: Problem, x: tf.Tensor, restart: tf.Tensor) -> APGDState:
        direction = problem.norm.random_start(x, tf.constant(1.0, x.dtype), problem.restart_keys(restart))
        radius = tf.maximum(problem.norm.measure(direction), tf.constant(1e-12, x.dtype))
        start = problem.project(x + per_row(problem.eps / radius, x) * direction, x)
        batch = tf.shape(x)[0]
        low = tf.fill([batch], tf.constant(-np.inf, x.dtype))
        zeros = tf.zeros([batch], tf.int32)
        eta = tf.fill([batch], problem.step_size)
        return APGDState(
            start, start, eta, zeros, low, zeros, start, tf.zeros_like(x), low, low, tf.ones([batch], tf.bool)
        )

    def step(self, problem: Problem, state: APGDState, evaluation: Evaluation, rows: Rows) -> APGDState:
        s, f, g = state, evaluation.objective, evaluation.gradient
        # Every example being attacked has taken the same number of steps (rows that are not
        # are discarded by the loop), so the step index, the checkpoint and the momentum are scalars.
        t = tf.reduce_max(s.t)
        rises = s.rises + tf.cast(tf.logical_and(t > 0, f > s.objective_prev), tf.int32)
        better = f > s.objective_max
        x_max, grad_max = where_rows(better, s.x, s.x_max), where_rows(better, g, s.grad_max)
        objective_max = tf.where(better, f, s.objective_max)
        at_max = tf.where(tf.equal(t, 0), objective_max, s.objective_max_at_check)
        interval = tf.gather(tf.constant(interval_table(self.steps), tf.int32), t)

        def checkpoint():
            halve = halve_step(rises, interval, self.rho, s.halved_at_check, at_max, objective_max)
            return (
                tf.where(halve, s.eta / 2, s.eta),
                where_rows(halve, x_max, s.x),
                where_rows(halve, grad_max, g),
                halve,
                objective_max,
                tf.zeros_like(rises),
            )

        def between():  # most steps: no checkpoint, nothing to reset
            return s.eta, s.x, g, s.halved_at_check, at_max, rises

        eta, x_from, g_from, halved, at_check, rises = tf.cond(interval > 0, checkpoint, between)
        a = tf.where(tf.equal(t, 0), tf.constant(1.0, s.x.dtype), tf.constant(MOMENTUM, s.x.dtype))
        direction = problem.norm.ascent_direction(g_from, x_from, problem.lo, problem.hi)
        z = problem.project_rows(x_from + per_row(eta, s.x) * direction, rows)
        x_new = problem.project_rows(a * z + (1 - a) * (2 * x_from - s.x_prev), rows)
        return APGDState(x_new, x_from, eta, s.t + 1, f, rises, x_max, grad_max, objective_max, at_check, halved)


class APGD(GradientAttack):
    """APGD with the cross-entropy (``loss="ce"``, APGD-CE) or DLR loss (``loss="dlr"``, APGD-DLR).

    Args:
        eps: radius of the threat model (>= 0).
        steps: steps per restart (100 in AutoAttack).
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        loss: ``"ce"``, ``"dlr"`` or ``"margin"``; targeted attacks take ``"ce"`` or ``"margin"``.
        restarts: restarts from fresh random points; the best point per example is kept.
        rho: the checkpoint condition's share of rising steps.
        step_size: the initial step (default ``2 * eps``; ``eps`` under L1).
        eot: average each gradient over this many passes (expectation over transformation), for
            randomized models (AutoAttack's ``rand`` version uses 20).
        Other arguments as for :class:`~robustkit.attacks.PGD`.
    """

    name = "apgd"
    chooses_start = True
    parameter_constraints = {"rho": Interval(0, 1, closed="right")}

    def label(self) -> str:
        return f"apgd-{self.loss}"

    def __init__(
        self,
        eps: Eps | str,
        steps: int = 100,
        norm: str | Norm = "linf",
        loss: str = "ce",
        restarts: int = 1,
        rho: float = 0.75,
        step_size: float | None = None,
        targeted: bool = False,
        target: str | None = None,
        early_stop: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        straight_through: bool = False,
        jit_compile: bool = False,
        eot: int = 1,
    ):
        super().__init__(
            eps=eps,
            steps=steps,
            step_size=step_size,
            norm=norm,
            loss=loss,
            targeted=targeted,
            target=target,
            random_start=True,
            restarts=restarts,
            early_stop=early_stop,
            bounds=bounds,
            batch_size=batch_size,
            seed=seed,
            straight_through=straight_through,
            jit_compile=jit_compile,
        )
        self.eot, self.rho = int(eot), float(rho)

    def step_rule(self) -> Any:
        if self.norm.name == "l1":  # "Mind the box": adaptive sparsity, the exact L1-and-box projection
            return APGDL1Rule(self.steps)
        return APGDRule(self.steps, self.rho)

    def default_step_size(self, eps: float) -> float:
        return eps if self.norm.name == "l1" else 2 * eps


class APGDT(TargetSweep, APGD):
    """APGD-T: APGD on the targeted DLR loss, steering towards each of the ``n_targets`` most
    likely other classes in turn, every run on the examples still robust (Croce & Hein, 2020).

    A success is any misclassification; the target only guides the search. ``n_targets`` is
    capped at the number of classes minus one; the loss needs at least 4 classes.

    Example:
        >>> APGDT(eps=8 / 255).guide_ranks(10)
        [2, 3, 4, 5, 6, 7, 8, 9, 10]
        >>> APGDT(eps=8 / 255, n_targets=3).guide_ranks(10)
        [2, 3, 4]
    """

    name = "apgd-t"
    own_loss = "dlr-targeted"

    def label(self) -> str:
        return "apgd-t"

    def __init__(
        self,
        eps: Eps | str,
        steps: int = 100,
        norm: str | Norm = "linf",
        n_targets: int = 9,
        restarts: int = 1,
        rho: float = 0.75,
        step_size: float | None = None,
        early_stop: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        straight_through: bool = False,
        jit_compile: bool = False,
    ):
        super().__init__(
            eps=eps,
            steps=steps,
            norm=norm,
            loss="dlr-targeted",
            restarts=restarts,
            rho=rho,
            step_size=step_size,
            early_stop=early_stop,
            bounds=bounds,
            batch_size=batch_size,
            seed=seed,
            straight_through=straight_through,
            jit_compile=jit_compile,
        )
        self.n_targets = int(n_targets)

    def config(self) -> dict:
        return {**super().config(), "n_targets": self.n_targets}

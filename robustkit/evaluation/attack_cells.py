"""How an attack answers each eps of a sweep (the attack kind of :class:`~robustkit.evaluation.sweep.LevelCells`).

A fixed-eps attack runs once per eps, on the examples that survived the smaller ones. An attack
that starts at x shares its first gradient across the eps grid (:class:`EvaluationAtX`). A
minimum-norm attack whose class declares ``every_eps_at_once`` runs once, and each example's
smallest adversarial norm answers every eps of the grid (:class:`WholeGrid`). A model without an
input gradient gets cells that say so (``no-gradient``), and the gradient-free attacks still run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks import ATTACKS, AttackResult, LoopAttack, build_attack
from robustkit.attacks.replicas import map_on_replicas
from robustkit.constraints import Constraints
from robustkit.errors import GradientError
from robustkit.evaluation.cells import NO_GRADIENT, Cell, cell_seed
from robustkit.evaluation.suites import AttackSpec
from robustkit.logits import LogitsView, as_logits
from robustkit.row_random import example_keys

SAMPLES_PER_CELL = 4


def attack_for(
    spec: AttackSpec,
    eps: float,
    bounds: Any,
    seed: int,
    batch_size: int,
    early_stop: bool = True,
    constraints: Constraints | None = None,
) -> LoopAttack:
    """The attack a suite's ``spec`` describes, at one eps (evaluation mode: early stopping on by default)."""
    stopping = {"early_stop": early_stop} if ATTACKS[spec.type].accepts("early_stop") else {}
    attack = build_attack(
        spec.type,
        **spec.settings(eps),
        bounds=bounds,
        seed=seed,
        batch_size=batch_size,
        constraints=constraints,
        **stopping,
    )
    assert isinstance(attack, LoopAttack)  # a suite's [[attack]] is one attack; ensembles are chained suites
    return attack


@dataclass
class EvaluationAtX:
    """Objective, gradient and prediction at each clean example, for attacks that start at x.

    They do not depend on eps, so a sweep computes them once (when first needed).
    """

    objective: np.ndarray
    gradient: np.ndarray
    prediction: np.ndarray

    @staticmethod
    def compute(
        attack: LoopAttack, view: LogitsView, x: np.ndarray, y: np.ndarray, rows: np.ndarray, batch_size: int
    ) -> EvaluationAtX:
        at_x = EvaluationAtX(np.zeros(len(x), x.dtype), np.zeros_like(x), np.zeros(len(x), np.int32))
        for start in range(0, len(rows), batch_size):
            chosen = rows[start : start + batch_size]
            obj, grad, pred = attack.first_evaluation(view, tf.constant(x[chosen]), tf.constant(y[chosen], tf.int32))
            at_x.objective[chosen], at_x.gradient[chosen], at_x.prediction[chosen] = (
                obj.numpy(),
                grad.numpy(),
                pred.numpy(),
            )
        return at_x

    def rows(self, chosen: np.ndarray) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return (
            tf.constant(self.objective[chosen]),
            tf.constant(self.gradient[chosen]),
            tf.constant(self.prediction[chosen]),
        )


def attack_rows(
    attack: LoopAttack,
    view: LogitsView,
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    batch_size: int,
    at_x: EvaluationAtX | None = None,
    strategy: Any = None,
    offset: int = 0,
) -> AttackResult:
    """Attack ``x[rows]`` in batches (side by side on a strategy's replicas); the runner checked the data.

    ``x`` starts at example ``offset`` of the data set: random draws are keyed by ``offset + row``,
    so a shard's results do not depend on where the data was cut.
    """

    def attack_batch(chosen: np.ndarray) -> AttackResult:
        return attack.attack_batch(
            view,
            tf.constant(x[chosen]),
            tf.constant(y[chosen], tf.int32),
            example_keys(attack.seed, offset + chosen),
            first=None if at_x is None else at_x.rows(chosen),
        )

    groups = [(rows[start : start + batch_size],) for start in range(0, len(rows), batch_size)]
    return AttackResult.concat(map_on_replicas(attack_batch, groups, strategy))


class AttackCells:
    """The cells of one attack over a sweep's eps grid (see the module docstring)."""

    def __init__(self, job: Any, x: np.ndarray, y: np.ndarray):
        self.job, self.x, self.y = job, x, y
        self.view = as_logits(job.model, x_sample=tf.constant(x[:8]))
        # Without a random start, every eps begins with a step from x whose gradient does not depend
        # on eps: it is computed once (when first needed) and its cost charged to the first cell
        # that attacks anything, whether that cell is computed now or was saved by an earlier run.
        self.at_x: EvaluationAtX | None = None
        self.whole: WholeGrid | None = None  # a minimum-norm attack's one run, answering every eps
        self.charged = self.charge_here = self.masked = False

    def reach(self, eps: float, alive: np.ndarray) -> None:
        self.charge_here = bool(len(alive)) and not self.job.spec.random_start and not self.charged
        self.charged = self.charged or self.charge_here

    def seen(self, cell: Cell) -> None:
        self.masked = self.masked or cell.note == NO_GRADIENT  # no input gradient at one eps: none at any

    def cell(self, eps: float, alive: np.ndarray) -> Cell:
        job, x, y = self.job, self.x, self.y
        suite, spec = job.attack_suite, job.spec
        if self.masked:
            return Cell.empty(x.shape[1:], x.dtype, alive, NO_GRADIENT)
        if ATTACKS[spec.type].every_eps_at_once:  # one run at the largest eps answers every eps
            if self.whole is None:
                self.whole = _whole_grid(self.attack(max(suite.input_eps)), self.view, x, y, alive, job)
            if self.whole.result is None:
                return Cell.empty(x.shape[1:], x.dtype, alive, NO_GRADIENT)
            return self.whole.cell(alive, eps)
        cell, self.at_x = _attack_cell(self.attack(eps), self.view, x, y, alive, self.at_x, self.charge_here, job)
        return cell

    def attack(self, eps: float) -> LoopAttack:
        job = self.job
        seed_here = cell_seed(job.seed, job.label, job.attack_suite.name, job.spec.name, eps)
        constraints = job.attack_suite.constraints
        return attack_for(job.spec, eps, job.bounds, seed_here, job.batch_size, constraints=constraints)


def _attack_cell(
    attack: LoopAttack,
    view: LogitsView,
    x: np.ndarray,
    y: np.ndarray,
    alive: np.ndarray,
    at_x: EvaluationAtX | None,
    charge_here: bool,
    job: Any,
) -> tuple[Cell, EvaluationAtX | None]:
    """Attack the survivors at one eps; a model without input gradient gets a cell that says so."""
    shares_start = attack.loop_rule().starts_at_x
    batch_size, strategy, offset = job.batch_size, job.strategy, job.offset
    try:
        if shares_start and at_x is None:
            at_x = EvaluationAtX.compute(attack, view, x, y, alive, batch_size)
        result = attack_rows(attack, view, x, y, alive, batch_size, at_x if shares_start else None, strategy, offset)
    except GradientError:
        # A gradient attack cannot run on this model: record that, break nothing, and let the
        # other attacks (Square needs no gradient) and the trust checks do their work.
        return Cell.empty(x.shape[1:], x.dtype, alive, NO_GRADIENT), at_x
    chosen = np.flatnonzero(result.success)[:SAMPLES_PER_CELL]
    grad_evals = result.grad_evals + int(charge_here)
    cell = Cell(
        alive,
        result.success,
        result.adv_pred,
        result.norms,
        grad_evals,
        0.0,
        alive[chosen],
        result.x_adv.numpy()[chosen],
    )
    return cell, at_x


@dataclass
class WholeGrid:
    """A minimum-norm attack's one run over some examples: each one's smallest adversarial norm found."""

    rows: np.ndarray  # the examples attacked
    result: AttackResult | None  # None: the model has no input gradient
    charged: bool = False  # its work is counted in the first cell made from it

    def cell(self, alive: np.ndarray, eps: float) -> Cell:
        """The cell at ``eps``: the examples of ``alive`` whose radius is at most eps are broken there."""
        at = np.searchsorted(self.rows, alive)
        result = self.result
        assert result is not None
        success = result.success[at] & (np.asarray(result.radius)[at] <= eps)
        evals = np.zeros(len(alive), np.int32) if self.charged else result.grad_evals[at].astype(np.int32)
        self.charged = True
        chosen = np.flatnonzero(success)[:SAMPLES_PER_CELL]
        x_adv = result.x_adv.numpy()[at[chosen]]
        return Cell(alive, success, result.adv_pred[at], result.norms[at], evals, 0.0, alive[chosen], x_adv)


def _whole_grid(attack: LoopAttack, view: LogitsView, x, y, alive, job: Any) -> WholeGrid:
    try:
        result = attack_rows(attack, view, x, y, alive, job.batch_size, None, job.strategy, job.offset)
    except GradientError:  # no input gradient: every eps gets a cell that says so
        return WholeGrid(alive.copy(), None)
    return WholeGrid(alive.copy(), result)

"""One attack swept over an eps grid, attacking only the survivors of the smaller eps.

An example broken at some eps stays broken at every larger eps (the same adversarial example is
inside the larger ball), so only the examples that survived the previous eps are attacked at the
next one, and with early stopping each of those stops as soon as it is misclassified. Robust
accuracy is therefore non-increasing in eps by construction, and never higher than independent
runs give.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks import ATTACKS, AttackResult, GradientAttack, build_attack
from robustkit.attacks.replicas import map_on_replicas
from robustkit.constraints import Constraints
from robustkit.errors import GradientError
from robustkit.evaluation.cells import Cell, cell_seed
from robustkit.evaluation.results import PER_EXAMPLE, AttackRecord
from robustkit.evaluation.suites import AttackSpec, AttackSuite
from robustkit.logits import LogitsView, as_logits
from robustkit.row_random import example_keys

SAMPLES_PER_CELL = 4
NO_GRADIENT = "no-gradient"


def attack_for(
    spec: AttackSpec,
    eps: float,
    bounds: Any,
    seed: int,
    batch_size: int,
    early_stop: bool = True,
    constraints: Constraints | None = None,
) -> GradientAttack:
    """The attack a suite's ``spec`` describes, at one eps (evaluation mode: early stopping on by default)."""
    stopping = {"early_stop": early_stop} if ATTACKS[spec.type].accepts("early_stop") else {}
    return build_attack(
        spec.type,
        **spec.settings(eps),
        bounds=bounds,
        seed=seed,
        batch_size=batch_size,
        constraints=constraints,
        **stopping,
    )


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
        attack: GradientAttack, view: LogitsView, x: np.ndarray, y: np.ndarray, rows: np.ndarray, batch_size: int
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
    attack: GradientAttack,
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


@dataclass(frozen=True)
class SweepJob:
    """One attack of an attack suite on one model, swept over the suite's eps grid on one shard of the data."""

    model: Any
    label: str  # the model's name in the results (part of each cell's seed)
    attack_suite: AttackSuite  # eps in input units
    spec: AttackSpec
    bounds: tuple[Any, Any]
    seed: int
    batch_size: int
    cell_dir: Path  # where this shard's cells are saved and found
    strategy: Any = None  # a tf.distribute strategy: batches side by side on its replicas
    offset: int = 0  # the shard's first example in the data set: random draws are keyed by offset + row


def sweep(
    job: SweepJob,
    x: np.ndarray,
    y: np.ndarray,
    correct: np.ndarray,
    broken_before: np.ndarray | None = None,
    on_cell: Callable[[bool], None] | None = None,
) -> tuple[dict[float, Cell], int, int]:
    """Attack one model with one attack over the eps grid, survivors only, resuming saved cells.

    ``x`` and ``y`` (the shard) must already be checked (finite, inside the bounds, labels in range).
    ``broken_before``: in a chained attack suite, the eps at which an earlier attack broke each example
    (NaN: none did); an example is not attacked at that eps or any larger one.
    Returns the cells by eps and how many were computed and reused.
    """
    model, label, suite, spec, bounds = job.model, job.label, job.attack_suite, job.spec, job.bounds
    seed, batch_size, cell_dir, strategy, offset = job.seed, job.batch_size, job.cell_dir, job.strategy, job.offset
    view = as_logits(model, x_sample=tf.constant(x[:8]))
    alive = np.flatnonzero(correct)
    cells: dict[float, Cell] = {}
    computed = reused = 0
    # Without a random start, every eps begins with a step from x whose gradient does not depend
    # on eps: it is computed once (when first needed) and its cost charged to the first cell
    # that attacks anything, whether that cell is computed now or was saved by an earlier run.
    at_x: EvaluationAtX | None = None
    whole: WholeGrid | None = None  # a minimum-norm attack's one run, when its class answers every eps at once
    charged = masked = False
    for eps in suite.input_eps:
        if broken_before is not None:
            alive = alive[~(broken_before[alive] <= eps)]  # NaN (not broken) compares False
        path = cell_dir / f"eps-{eps:.10g}.npz"
        cell = Cell.load(path)
        if cell is not None and not np.array_equal(cell.indices, alive):
            cell = None  # saved by a different sweep: recompute rather than trust it
        charge_here = bool(len(alive)) and not spec.random_start and not charged
        charged = charged or charge_here
        if cell is None:
            start = time.perf_counter()
            if not len(alive):
                cell = Cell.empty(x.shape[1:], x.dtype)
            elif masked:  # no input gradient at an earlier eps: none at this one either
                cell = Cell.empty(x.shape[1:], x.dtype, alive, NO_GRADIENT)
            elif ATTACKS[spec.type].every_eps_at_once:  # one run at the largest eps answers every eps
                if whole is None:
                    largest = max(suite.input_eps)
                    seed_here = cell_seed(seed, label, suite.name, spec.name, largest)
                    attack = attack_for(spec, largest, bounds, seed_here, batch_size, constraints=suite.constraints)
                    whole = _whole_grid(attack, view, x, y, alive, batch_size, strategy, offset)
                no_gradient = whole.result is None
                cell = Cell.empty(x.shape[1:], x.dtype, alive, NO_GRADIENT) if no_gradient else whole.cell(alive, eps)
            else:
                seed_here = cell_seed(seed, label, suite.name, spec.name, eps)
                attack = attack_for(spec, eps, bounds, seed_here, batch_size, constraints=suite.constraints)
                cell, at_x = _attack_cell(attack, view, x, y, alive, batch_size, at_x, charge_here, strategy, offset)
            cell.seconds = time.perf_counter() - start
            cell.save(path)
            computed += 1
        else:
            reused += 1
        cells[eps] = cell
        masked = masked or cell.note == NO_GRADIENT
        alive = alive[~cell.success.astype(bool)]
        if on_cell:
            on_cell(cell is not None)
    return cells, computed, reused


def _attack_cell(
    attack: GradientAttack,
    view: LogitsView,
    x: np.ndarray,
    y: np.ndarray,
    alive: np.ndarray,
    batch_size: int,
    at_x: EvaluationAtX | None,
    charge_here: bool,
    strategy: Any = None,
    offset: int = 0,
) -> tuple[Cell, EvaluationAtX | None]:
    """Attack the survivors at one eps; a model without input gradient gets a cell that says so."""
    shares_start = attack.loop_rule().starts_at_x
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


def _whole_grid(attack: GradientAttack, view: LogitsView, x, y, alive, batch_size, strategy, offset) -> WholeGrid:
    try:
        result = attack_rows(attack, view, x, y, alive, batch_size, None, strategy, offset)
    except GradientError:  # no input gradient: every eps gets a cell that says so
        return WholeGrid(alive.copy(), None)
    return WholeGrid(alive.copy(), result)


def attack_record(cells: dict[float, Cell], eps_grid: tuple[float, ...], clean_pred: np.ndarray) -> AttackRecord:
    """Per example, the smallest eps that broke it (and where); per eps, the work spent."""
    n = len(clean_pred)
    broken_eps = np.full(n, np.nan)
    adv_pred = clean_pred.astype(np.int64)
    norms = np.full(n, np.nan)
    evals_total = np.zeros(n, np.int64)
    for eps in eps_grid:  # small to large: an example breaks at most once, the sweep drops it after
        cell = cells[eps]
        evals_total[cell.indices] += cell.grad_evals.astype(np.int64)
        hit = cell.success.astype(bool)
        broken_eps[cell.indices[hit]] = float(eps)
        adv_pred[cell.indices[hit]] = cell.adv_pred[hit]
        norms[cell.indices[hit]] = cell.norms[hit]
    return {
        "broken_eps": broken_eps,
        "adv_pred": adv_pred,
        "norm": norms,
        "grad_evals": evals_total,
        "cell_grad_evals": [int(cells[e].grad_evals.sum()) for e in eps_grid],
        "cell_seconds": [float(cells[e].seconds) for e in eps_grid],
        "cell_attacked": [int(len(cells[e].indices)) for e in eps_grid],
        "no_gradient": any(cells[e].note == NO_GRADIENT for e in eps_grid),
    }


def chained_record(record: AttackRecord, before: AttackRecord | None) -> AttackRecord:
    """An attack's record in a chained suite: examples broken by it or by an earlier attack (cumulative),
    each with the prediction and norm of the attack that broke it first; the work stays its own.

    Example:
        >>> rec = lambda e, p: {"broken_eps": np.array(e), "adv_pred": np.array(p), "norm": np.array(e),
        ...     "grad_evals": np.array([1, 1, 1]), "no_gradient": False}
        >>> both = chained_record(rec([np.nan, 0.1, np.nan], [0, 7, 2]), rec([0.1, 0.2, np.nan], [5, 1, 2]))
        >>> both["broken_eps"].tolist()[:2], both["adv_pred"].tolist()
        ([0.1, 0.1], [5, 7, 2])
    """
    if before is None:
        return record
    # An earlier attack's break counts where it came at an eps no larger than this attack's (this attack
    # never attacked the example from that eps on); a tie goes to the earlier attack.
    own, first = record["broken_eps"], before["broken_eps"]
    earlier = ~np.isnan(first) & (np.isnan(own) | (first <= own))
    chained = dict(record)
    for field in ("broken_eps", "adv_pred", "norm"):
        chained[field] = np.where(earlier, before[field], record[field])
    return chained  # type: ignore[return-value]


def merge_records(records: list[AttackRecord]) -> AttackRecord:
    """The records of consecutive shards of the data as one: per-example fields joined, per-eps work summed.

    Example:
        >>> part = lambda e: {"broken_eps": np.array([e]), "adv_pred": np.array([1]), "norm": np.array([e]),
        ...     "grad_evals": np.array([2]), "cell_grad_evals": [2], "cell_seconds": [0.5], "cell_attacked": [1],
        ...     "no_gradient": False}
        >>> merged = merge_records([part(0.1), part(np.nan)])
        >>> merged["broken_eps"].tolist()[0], merged["cell_grad_evals"], merged["cell_attacked"]
        (0.1, [4], [2])
    """
    if len(records) == 1:
        return records[0]
    merged: dict = {
        field: np.concatenate([r[field] for r in records])  # type: ignore[literal-required]
        for field in PER_EXAMPLE
    }
    for field in ("cell_grad_evals", "cell_seconds", "cell_attacked"):
        merged[field] = [sum(values) for values in zip(*(r[field] for r in records))]
    merged["no_gradient"] = any(r["no_gradient"] for r in records)
    return merged  # type: ignore[return-value]

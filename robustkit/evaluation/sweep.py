"""One attack swept over an eps grid, attacking only the survivors of the smaller eps.

The sweep itself is the same for every kind of evaluation: it walks the grid, resumes saved
cells, and drops what each level broke; how the missing cells are computed is the kind's
(:class:`LevelCells`; attacks: :mod:`robustkit.evaluation.attack_cells`).

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
from typing import Any, Protocol

import numpy as np

from robustkit.evaluation.attack_cells import AttackCells
from robustkit.evaluation.cells import NO_GRADIENT, Cell
from robustkit.evaluation.results import PER_EXAMPLE, AttackRecord
from robustkit.evaluation.suites import AttackSpec, AttackSuite


class LevelCells(Protocol):
    """How one kind of evaluation answers the levels of a sweep's grid, for the examples still standing.

    The sweep walks the grid from small to large, resumes saved cells and drops what each level
    broke; it asks this object only for the cells it has to compute. ``reach`` comes at every
    level (saved or not), before ``cell``; ``seen`` after, with the cell the sweep keeps.
    """

    def reach(self, level: float, alive: np.ndarray) -> None: ...

    def cell(self, level: float, alive: np.ndarray) -> Cell: ...

    def seen(self, cell: Cell) -> None: ...


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
    cells_of: Callable[[SweepJob, np.ndarray, np.ndarray], LevelCells] | None = None,
) -> tuple[dict[float, Cell], int, int]:
    """Evaluate one model with one attack over the eps grid, survivors only, resuming saved cells.

    ``x`` and ``y`` (the shard) must already be checked (finite, inside the bounds, labels in range).
    ``broken_before``: in a chained attack suite, the eps at which an earlier attack broke each example
    (NaN: none did); an example is not attacked at that eps or any larger one. ``cells_of`` makes
    the object that computes missing cells (:class:`LevelCells`; by default an attack's,
    :class:`~robustkit.evaluation.attack_cells.AttackCells`).
    Returns the cells by eps and how many were computed and reused.
    """
    kind = (cells_of or AttackCells)(job, x, y)
    alive = np.flatnonzero(correct)
    cells: dict[float, Cell] = {}
    computed = reused = 0
    for eps in job.attack_suite.input_eps:
        if broken_before is not None:
            alive = alive[~(broken_before[alive] <= eps)]  # NaN (not broken) compares False
        path = job.cell_dir / f"eps-{eps:.10g}.npz"
        cell = Cell.load(path)
        if cell is not None and not np.array_equal(cell.indices, alive):
            cell = None  # saved by a different sweep: recompute rather than trust it
        kind.reach(eps, alive)
        if cell is None:
            start = time.perf_counter()
            cell = kind.cell(eps, alive) if len(alive) else Cell.empty(x.shape[1:], x.dtype)
            cell.seconds = time.perf_counter() - start
            cell.save(path)
            computed += 1
        else:
            reused += 1
        kind.seen(cell)
        cells[eps] = cell
        alive = alive[~cell.success.astype(bool)]
        if on_cell:
            on_cell(cell is not None)
    return cells, computed, reused


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

"""Verification suites in a run: proofs for every model, eps and shard, in resumable cells.

Each (model, verification suite, eps, shard) is one cell. The bounds
(:func:`robustkit.verify.margin_bounds`) run on every example of the shard; an example whose every
margin ``logit[y] - logit[j]`` is proved positive over the ball is "proved by the bounds". With
``exact = true`` a complete verifier then decides the correctly classified examples the bounds left
open: "proved exactly", "refuted" (with a counterexample the model misclassifies, kept in the cell) or
"unknown" after its time limit. It is branch and bound with beta-CROWN
(:func:`robustkit.verify.verify_specification`, ``complete = "bab"``) or the mixed-integer program
(:func:`robustkit.verify.exact_verify`, ``complete = "milp"``). A model whose layers the program cannot
encode (max pooling, smooth activations) is told before any work, with a note, and gets the bounds'
proofs alone. The
cell is saved atomically, so an interrupted run resumes and a re-run reuses it.

After verifying, the trust check ``verification-holds``
(:mod:`robustkit.evaluation.verification_check`) looks for a proof that anything contradicts.

Example:
    >>> from robustkit.evaluation.verification_suites import load_evaluation_suite
    >>> [task.method for task in VerificationEvaluation().tasks(type("S", (), {"models": ["m"],
    ...     "verification_suites": [load_evaluation_suite("verify-linf")]})(), 1)]
    ['eps=0.01', 'eps=0.03', 'eps=0.05', 'eps=0.1']
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustkit.errors import ModelError, RobustkitWarning
from robustkit.evaluation.cell_store import StoredCell, load_or_compute
from robustkit.evaluation.context import RunContext
from robustkit.evaluation.progress import RunProgress
from robustkit.evaluation.results import (
    MISCLASSIFIED,
    PROVED,
    PROVED_EXACT,
    REFUTED,
    UNKNOWN,
    Results,
    VerificationRecord,
)
from robustkit.evaluation.shards import EvaluatedModel, ModelUnderTest, ShardTask
from robustkit.evaluation.suites import BenchmarkSuite
from robustkit.evaluation.verification_check import verification_check
from robustkit.evaluation.verification_suites import VerificationSuite
from robustkit.evaluation.verified import VERIFIER
from robustkit.logits import as_logits
from robustkit.verify import exact_verify, margin_bounds, network_of, robustness_specification, verify_specification
from robustkit.verify.exact import exact_unsupported


class VerificationEvaluation:
    """The verification suites of a run (see the module docstring): one task per model, eps and shard."""

    name = "verification suites"

    def suites(self, suite: BenchmarkSuite) -> list[VerificationSuite]:
        return list(suite.verification_suites)

    def cells_per_shard(self, suite: BenchmarkSuite) -> int:
        return sum(len(s.eps) for s in suite.verification_suites)

    def tasks(self, suite: BenchmarkSuite, shards: int) -> list[ShardTask]:
        return [
            ShardTask(model, verification_suite.name, f"eps={label}", shard)
            for model in suite.models
            for verification_suite in suite.verification_suites
            for label in verification_suite.eps_labels()
            for shard in range(shards)
        ]

    def prepare(self, run: RunContext, tested: ModelUnderTest) -> None:
        """Before any work on a model: its layers can be bounded (else an error that names the layer), and the
        exact verifier can encode them (else a note, and the bounds' proofs alone)."""
        for suite in run.suite.verification_suites:
            try:
                network = network_of(tested.model)
            except ModelError as err:
                raise ModelError(
                    f"Model {tested.label!r} cannot be verified by {suite.name!r}: {err} Leave {suite.name} out of "
                    "the run's suites; attacks and randomized smoothing work with any model."
                ) from None
            reason = exact_unsupported(network) if suite.exact and suite.complete == "milp" else None
            if reason is not None:
                warnings.warn(
                    f"{tested.label}: {reason}, so {suite.name} proves with the sound bounds alone; what they leave "
                    "open stays unknown (or broken by an attack).",
                    RobustkitWarning,
                    stacklevel=2,
                )

    def compute(self, run: RunContext, tested: ModelUnderTest, task: ShardTask) -> int:
        suite = next(s for s in run.suite.verification_suites if s.name == task.suite)
        labels = [f"eps={label}" for label in suite.eps_labels()]
        eps = suite.input_eps()[labels.index(task.method)]
        run.validate_data(suite)
        return int(verify_shard(run, tested, suite, eps, task.shard)[1])

    def evaluate(self, run: RunContext, model: EvaluatedModel, results: Results, progress: RunProgress) -> None:
        """Every verification suite on one model, and the trust check on its proofs."""
        tested = model.tested
        for suite in run.suite.verification_suites:
            run.validate_data(suite)
            cells, computed, reused = verify_model(run, tested, suite, progress.ticker(f"{tested.label} {suite.name}"))
            progress.counted(computed, reused)
            record = verification_record(cells)
            model.examples.setdefault("verification_suites", {})[suite.name] = {VERIFIER: record}
            if run.suite.checks:
                check = verification_check(run, model, suite, record, cells)
                check.model = tested.label
                results["checks"].append(check.to_dict())


@dataclass
class VerificationCell(StoredCell):
    """What was found for every example of one shard at one eps; the counterexamples of refuted examples."""

    status: np.ndarray  # int8 codes (see results.STATUS)
    margin: np.ndarray  # the bounds' lower bound of each example's smallest margin
    witness_rows: np.ndarray  # the refuted examples' rows in the shard
    witness: np.ndarray  # their counterexamples, one per row
    seconds: float  # the bounds'
    exact_seconds: float  # the exact verifier's


def verify_examples(
    model: Any, x: np.ndarray, y: np.ndarray, predicted: np.ndarray, suite: VerificationSuite, eps: float, bounds: Any
) -> VerificationCell:
    """One eps's :class:`VerificationCell` for the examples ``x`` with labels ``y``, which the model classifies
    as ``predicted`` (see the module docstring)."""
    started = time.perf_counter()
    found = margin_bounds(
        model, x, y, eps, norm=suite.norm, bounds=bounds, method=suite.bounds_method, batch_size=suite.batch_size
    )
    correct = np.asarray(predicted) == y
    status = np.where(found.verified & correct, PROVED, UNKNOWN).astype(np.int8)
    status[~correct] = MISCLASSIFIED
    seconds = time.perf_counter() - started
    rows, witness = np.zeros(0, np.int64), np.zeros((0, *x.shape[1:]), np.float32)
    started = time.perf_counter()
    open_rows = np.flatnonzero(status == UNKNOWN)
    if suite.exact and suite.complete == "bab" and len(open_rows):
        codes, points = _branch_and_bound(model, x[open_rows], y[open_rows], eps, bounds, suite.time_limit)
        status[open_rows] = codes
        rows, witness = open_rows[codes == REFUTED].astype(np.int64), points[codes == REFUTED].astype(np.float32)
    elif suite.exact and len(open_rows) and exact_unsupported(network_of(model)) is None:
        answer = exact_verify(model, x[open_rows], y[open_rows], eps, bounds=bounds, time_limit=suite.time_limit)
        status[open_rows[answer.status == "verified"]] = PROVED_EXACT
        refuted = answer.status == "broken"
        status[open_rows[refuted]] = REFUTED
        rows, witness = open_rows[refuted].astype(np.int64), answer.counterexample[refuted].astype(np.float32)
    return VerificationCell(status, found.worst, rows, witness, seconds, time.perf_counter() - started)


def _branch_and_bound(
    model: Any, x: np.ndarray, y: np.ndarray, eps: float, bounds: Any, time_limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each example's code (proved exactly, refuted or unknown) from branch and bound within ``time_limit``
    seconds, and its counterexample (NaN where none). A counterexample counts only if the model misclassifies
    it (a tie between two logits proves nothing either way)."""
    classes = network_of(model).shapes[-1][0]
    codes = np.full(len(x), UNKNOWN, np.int8)
    witnesses = np.full(x.shape, np.nan, np.float32)
    for i in range(len(x)):
        spec = robustness_specification(np.asarray(x[i], np.float64), eps, int(y[i]), classes, bounds)
        found = verify_specification(model, spec, time_limit=time_limit, seed=i)
        if found.status == "proved":
            codes[i] = PROVED_EXACT
        elif found.witness is not None and int(np.argmax(as_logits(model)(found.witness[None])[0])) != int(y[i]):
            codes[i], witnesses[i] = REFUTED, found.witness
    return codes, witnesses


def verify_shard(
    run: RunContext, tested: ModelUnderTest, suite: VerificationSuite, eps: float, number: int
) -> tuple[VerificationCell, bool]:
    """One shard's answers at one eps, and whether they were computed (else resumed)."""
    start, stop = run.shards[number]
    folder = run.shard_dir(run.verification_dir(tested.label, tested.fingerprint, suite, eps), number)
    path = folder / "verification.npz"

    def compute() -> VerificationCell:
        labels = np.asarray(run.y[start:stop], np.int64)
        predicted = run.shard_predictions(tested.model, number)
        return verify_examples(tested.model, run.shard_x(number), labels, predicted, suite, eps, run.bounds(suite))

    return load_or_compute(VerificationCell, path, stop - start, compute)


def verify_model(
    run: RunContext, tested: ModelUnderTest, suite: VerificationSuite, tick: Callable[[bool], None] | None = None
) -> tuple[dict[float, list[VerificationCell]], int, int]:
    """Every eps of a verification suite on one model, shard by shard: the cells by eps, and how many cells
    were computed and reused."""
    cells: dict[float, list[VerificationCell]] = {}
    computed = reused = 0
    for eps in suite.input_eps():
        for number in range(len(run.shards)):
            cell, fresh = verify_shard(run, tested, suite, eps, number)
            computed, reused = computed + fresh, reused + (not fresh)
            cells.setdefault(eps, []).append(cell)
            if tick:
                tick(fresh)
    return cells, computed, reused


def verification_record(cells: dict[float, list[VerificationCell]]) -> VerificationRecord:
    """The per-example record of a verification suite: status and margin as a column per eps."""
    grid = sorted(cells)
    return {
        "status": np.stack([np.concatenate([c.status for c in cells[e]]) for e in grid], axis=1).astype(np.int8),
        "margin": np.stack([np.concatenate([c.margin for c in cells[e]]) for e in grid], axis=1).astype(np.float64),
        "cell_seconds": [float(sum(c.seconds for c in cells[e])) for e in grid],
        "cell_exact_seconds": [float(sum(c.exact_seconds for c in cells[e])) for e in grid],
    }

"""The trust check ``verification-holds``: nothing may contradict a proof.

A proof says that no input in the ball changes the prediction; it is wrong if anything finds such
an input. The check looks in four places, and any contradiction fails it:

1. the run's attacks of the same norm and bounds: an attack that broke an example at an eps at or
   below one where it was proved;
2. the exact verifier's own answers: a counterexample at an eps at or below one where the example
   was proved;
3. every counterexample, re-checked: the model must misclassify it, and it must lie inside the
   ball and the bounds;
4. a fresh PGD attack (in the suite's norm) on a few proved examples of the first shard, at the
   largest eps each was proved at.

Example:
    >>> status = np.array([[1, 3]])  # proved at the first eps, refuted at the second: consistent
    >>> proof_contradictions(status, np.array([np.nan]), [0.1, 0.2]).tolist()
    []
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robustkit.evaluation.context import RunContext
from robustkit.evaluation.model_checks import NOT_APPLICABLE, CheckResult
from robustkit.evaluation.results import PROVED, PROVED_EXACT, REFUTED, VerificationRecord
from robustkit.evaluation.shards import EvaluatedModel
from robustkit.evaluation.verification_suites import VerificationSuite
from robustkit.verify.agreement import check_verification, real_counterexamples

VERIFICATION_CHECK = "verification-holds"
CHECK_EXAMPLES = 16  # proved examples of the first shard that PGD attacks afresh
CHECK_STEPS, CHECK_RESTARTS = 50, 2
PROVED_CODES = (PROVED, PROVED_EXACT)


def proof_contradictions(status: np.ndarray, broken_eps: np.ndarray, grid: Any) -> np.ndarray:
    """Examples proved at some eps at or above one where they were broken (``broken_eps``: the smallest eps an
    attack broke each at, NaN if none) or refuted (``status``: codes per example and eps)."""
    grid = np.asarray(grid, np.float64)
    proved = np.isin(status, PROVED_CODES)
    largest_proved = np.where(proved.any(axis=1), np.max(np.where(proved, grid, -np.inf), axis=1), -np.inf)
    refuted = status == REFUTED
    smallest_refuted = np.min(np.where(refuted, grid, np.inf), axis=1)
    broken = np.nan_to_num(np.asarray(broken_eps, np.float64), nan=np.inf)
    at_or_below = largest_proved * (1 + 1e-9) + 1e-12  # the same eps, written twice, may round apart
    return np.flatnonzero((smallest_refuted <= largest_proved) | (broken <= at_or_below))


def attacks_broken_eps(run: RunContext, model: EvaluatedModel, suite: VerificationSuite) -> tuple[np.ndarray, list]:
    """Per example, the smallest eps any attack of the run broke it at, over the attack suites of the same norm
    and bounds (none when features are constrained or scaled: their eps means something else); and their names."""
    worst = np.full(len(model.correct), np.inf)
    names: list[str] = []
    if run.suite.features:
        return worst, names
    for attack_suite in run.suite.attack_suites:
        if attack_suite.norm != suite.norm or run.bounds(attack_suite) != run.bounds(suite):
            continue
        for record in model.examples["attack_suites"].get(attack_suite.name, {}).values():
            worst = np.minimum(worst, np.nan_to_num(np.asarray(record["broken_eps"], np.float64), nan=np.inf))
        names.append(attack_suite.name)
    return worst, names


def _false_counterexamples(run: RunContext, model: EvaluatedModel, suite: VerificationSuite, cells) -> list[str]:
    false = []
    for eps, per_shard in cells.items():
        for number, cell in enumerate(per_shard):
            if not len(cell.witness_rows):
                continue
            start = run.shards[number][0]
            x, y = run.shard_x(number)[cell.witness_rows], np.asarray(run.y)[start + cell.witness_rows]
            real = real_counterexamples(model.tested.model, x, y, cell.witness, eps, run.bounds(suite), suite.norm)
            false += [f"example {start + r} at eps {eps:g}" for r in cell.witness_rows[~real]]
    return false


def _attacked_proofs(run: RunContext, model: EvaluatedModel, suite: VerificationSuite, status: np.ndarray) -> tuple:
    """PGD on up to CHECK_EXAMPLES proved examples of the first shard: how many it attacked, and which it broke."""
    start, stop = run.shards[0]
    grid = np.asarray(suite.eps)
    proved = np.isin(status[start:stop], PROVED_CODES) & (grid > 0)
    rows = np.flatnonzero(proved.any(axis=1))
    rows = rows[np.linspace(0, len(rows) - 1, min(CHECK_EXAMPLES, len(rows))).astype(int)] if len(rows) else rows
    x, y = run.shard_x(0), np.asarray(run.y[start:stop], np.int64)
    broken: list[str] = []
    largest = np.array([np.flatnonzero(proved[r]).max() for r in rows], np.int64)  # each row's largest proved eps
    for j in np.unique(largest):
        at, eps = rows[largest == j], grid[j]
        found = check_verification(
            model.tested.model, x[at], y[at], float(eps), np.ones(len(at), bool), norm=suite.norm,
            bounds=run.bounds(suite), steps=CHECK_STEPS, restarts=CHECK_RESTARTS, seed=run.suite.seed,
        )  # fmt: skip
        broken += [f"example {start + at[i]} at eps {eps:g}" for i in found.broken_proofs]
    return len(rows), broken


def verification_check(
    run: RunContext, model: EvaluatedModel, suite: VerificationSuite, record: VerificationRecord, cells: dict
) -> CheckResult:
    """Look for anything that contradicts a proof of ``suite`` on one model (see the module docstring)."""
    status = np.asarray(record["status"])
    if not np.isin(status, (*PROVED_CODES, REFUTED)).any():
        return CheckResult(VERIFICATION_CHECK, NOT_APPLICABLE, "", f"{suite.name}: nothing was proved or refuted.")
    broken_eps, attack_suites = attacks_broken_eps(run, model, suite)
    contradicted = [f"example {i}" for i in proof_contradictions(status, broken_eps, suite.eps)]
    false = _false_counterexamples(run, model, suite, cells)
    attacked, broken = _attacked_proofs(run, model, suite, status)
    proved = int(np.isin(status, PROVED_CODES).any(axis=1).sum())
    how = (
        f"{proved} proved examples against the attacks of {', '.join(attack_suites) or 'no attack suite of this norm'}"
        f" and the complete verifier's counterexamples, every counterexample re-checked, and PGD ({CHECK_STEPS} steps, "
        f"{CHECK_RESTARTS} restarts) on {attacked} proved examples"
    )
    problems = [
        (contradicted, "proved, yet broken by an attack or refuted at an eps no larger"),
        (false, "a counterexample the model does not misclassify, or outside the ball or the bounds"),
        (broken, "proved, yet broken by PGD"),
    ]
    found = [f"{text}: {', '.join(which[:5])}{' ...' if len(which) > 5 else ''}" for which, text in problems if which]
    if found:
        count = len(contradicted) + len(false) + len(broken)
        return CheckResult(
            VERIFICATION_CHECK,
            "fail",
            f"{count} contradictions",
            f"{suite.name}: {'; '.join(found)}. A proof that something contradicts is wrong: do not trust these "
            "verified accuracies. Check that the model is deterministic in inference and reads inputs in the "
            "suite's bounds, and report the model's layers if it is.",
        )
    return CheckResult(VERIFICATION_CHECK, "pass", f"0/{proved}", f"{suite.name}: {how}; nothing contradicted a proof.")

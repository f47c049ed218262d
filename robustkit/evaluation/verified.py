"""Rows of verification suites in the summary: proved accuracy per (model, verification suite, eps).

A proof at eps holds at every smaller eps (the balls are nested), and a counterexample at eps at
every larger one, so each example counts as proved at eps when it was proved at some eps at or
above it, and as refuted when it was refuted at some eps at or below it. The rows sit in the
summary beside the attacks' rows, with the same model, norm and eps columns, and say in the
``bound`` column which side of the true robust accuracy they are on:

* ``proved-bounds`` (lower): proved by the sound bounds (IBP, CROWN or the better of the two);
* ``proved-exact`` (lower): proved by the bounds or the exact verifier;
* ``refuted-exact`` (upper): correct, less those the exact verifier found a counterexample for.

Example:
    >>> status = np.array([[1, 0], [2, 3], [4, 4]], np.int8)  # proved; proved exactly, then refuted; wrong
    >>> proved_at(status, exact=False)[:, 0].tolist(), proved_at(status, exact=True)[:, 0].tolist()
    ([True, False, False], [True, True, False])
    >>> refuted_at(status)[:, 1].tolist()
    [False, True, False]
"""

from __future__ import annotations

import math

import numpy as np

from robustkit.evaluation.results import PROVED, PROVED_EXACT, REFUTED, Results, SummaryRow, VerificationSuiteConfig
from robustkit.stats import wilson_interval

VERIFIER = "verifier"  # the record's name under its verification suite
ANSWERS = {  # the rows' names in the summary's attack column, and which side of the truth they bound
    "proved-bounds": "lower",
    "proved-exact": "lower",
    "refuted-exact": "upper",
}


def proved_at(status: np.ndarray, exact: bool) -> np.ndarray:
    """Per example and eps (ascending): proved there or at a larger eps (by the bounds, or also exactly)."""
    codes = (PROVED, PROVED_EXACT) if exact else (PROVED,)
    proved = np.isin(status, codes)
    return np.flip(np.logical_or.accumulate(np.flip(proved, axis=1), axis=1), axis=1)


def refuted_at(status: np.ndarray) -> np.ndarray:
    """Per example and eps (ascending): refuted there or at a smaller eps."""
    return np.logical_or.accumulate(status == REFUTED, axis=1)


def _row(model: str, suite: VerificationSuiteConfig, answer: str, eps: float, k: int, correct: np.ndarray,
         seconds: float, refuted: int = 0) -> SummaryRow:  # fmt: skip
    n, n_correct = len(correct), int(correct.sum())
    low, high = wilson_interval(k, n)
    return {
        "model": model,
        "attack_suite": suite["name"],
        "attack": answer,
        "norm": suite["norm"],
        "eps": float(eps),
        "n": n,
        "clean_accuracy": float(correct.mean()) if n else math.nan,
        "robust_accuracy": k / n if n else math.nan,
        "robust_accuracy_low": low,
        "robust_accuracy_high": high,
        "success_rate": refuted / n_correct if answer == "refuted-exact" and n_correct else math.nan,
        "mean_norm": math.nan,
        "median_norm": math.nan,
        "grad_evals": 0,
        "seconds": float(seconds),
        "bound": ANSWERS[answer],
        "corruption": "",
        "severity": 0,
    }


def suite_rows(model: str, suite: VerificationSuiteConfig, record: dict, correct: np.ndarray) -> list[SummaryRow]:
    """One verification suite's rows on one model, per answer and eps."""
    status = np.asarray(record["status"])
    answers = {"proved-bounds": proved_at(status, exact=False)}
    if suite["exact"]:
        answers["proved-exact"] = proved_at(status, exact=True)
        answers["refuted-exact"] = correct[:, None] & ~refuted_at(status)
    rows = []
    for answer, counted in answers.items():
        for j, eps in enumerate(suite["eps"]):
            seconds = record["cell_seconds"][j] + (record["cell_exact_seconds"][j] if answer != "proved-bounds" else 0)
            k = int((counted[:, j] & correct).sum())
            rows.append(_row(model, suite, answer, eps, k, correct, seconds, int(correct.sum()) - k))
    return rows


def verified_rows(results: Results) -> list[SummaryRow]:
    """Every verification suite's rows, for every model."""
    labels = np.asarray(results["data"]["labels"])
    rows: list[SummaryRow] = []
    for model, per_model in results["examples"].items():
        correct = np.asarray(per_model["clean_pred"]) == labels
        for suite in results["suite"].get("verification_suites", []):
            record = per_model.get("verification_suites", {}).get(suite["name"], {}).get(VERIFIER)
            if record is not None:
                rows += suite_rows(model, suite, dict(record), correct)
    return rows

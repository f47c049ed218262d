"""Assembling a run's results: from what each model's sweeps found to the tables the report reads.

A pure function of the results being filled in: it returns new results with the report's sample
images chosen, the summary table, the contributions of chained suites and the certified
accuracies of certification suites, and leaves its input as it was.

Example:
    >>> empty = {"samples": [], "examples": {}, "suite": {"attack_suites": []}, "data": {"labels": []}}
    >>> results, table = assemble(empty, [])
    >>> results["summary"], results["contributions"], results["certified"], len(table), "summary" in empty
    ([], [], [], 0, False)
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from robustkit.evaluation.certified import certified_rows
from robustkit.evaluation.contributions import contribution_rows
from robustkit.evaluation.results import Results
from robustkit.evaluation.samples import select_samples
from robustkit.evaluation.suites import AttackSuite
from robustkit.evaluation.summary import summarize


def assemble(results: Any, attack_suites: list[AttackSuite]) -> tuple[Results, pd.DataFrame]:
    """``results`` with its samples chosen, its summary, its contributions and its certified rows (a new
    dictionary), and the summary as a table."""
    assembled = dict(results)
    assembled["samples"] = select_samples(results["samples"], attack_suites)
    summary = summarize(assembled)  # type: ignore[arg-type]
    assembled["summary"] = json.loads(summary.to_json(orient="records"))
    assembled["contributions"] = contribution_rows(assembled)  # type: ignore[arg-type]
    assembled["certified"] = certified_rows(assembled)  # type: ignore[arg-type]
    return assembled, summary  # type: ignore[return-value]

"""Rows of corruption suites in the summary, and what the field reports from them: accuracy per
(model, corruption suite, corruption, severity), the mean corruption accuracy, the worst
corruption, and the corruption error against a baseline model (mCE and relative mCE).

Hendrycks and Dietterich's corruption error of a model ``f`` on corruption ``c`` is its error summed
over the severities, over the baseline's: ``CE_c = sum_s E(f, c, s) / sum_s E(base, c, s)``; the
relative CE subtracts each model's clean error first. mCE is the mean over the benchmark's
corruptions (the held-out ones are reported, never averaged in). The rows carry ``bound``
"measured": an accuracy on corrupted inputs, which bounds nothing about attacks.

Example:
    >>> acc = {"m": {("a", 1): 0.8, ("a", 2): 0.6}, "b": {("a", 1): 0.6, ("a", 2): 0.2}}
    >>> round(corruption_error(acc["m"], acc["b"], ["a"]), 4)
    0.5
    >>> round(relative_corruption_error(acc["m"], 1.0, acc["b"], 0.8, ["a"]), 4)
    0.75
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from robustkit.evaluation.results import CorruptionSuiteConfig, Results, SummaryRow
from robustkit.stats import wilson_interval

MEASURED = "measured"


def _row(model: str, suite: CorruptionSuiteConfig, corruption: str, severity: int, correct: np.ndarray,
         clean: np.ndarray, seconds: float) -> SummaryRow:  # fmt: skip
    n, k = len(correct), int(correct.sum())
    low, high = wilson_interval(k, n)
    clean_right = int(clean.sum())
    return {
        "model": model,
        "attack_suite": suite["name"],
        "attack": corruption,
        "norm": "corruption",
        "eps": float(severity),
        "n": n,
        "clean_accuracy": float(clean.mean()) if n else math.nan,
        "robust_accuracy": k / n if n else math.nan,
        "robust_accuracy_low": low,
        "robust_accuracy_high": high,
        "success_rate": float((clean & ~correct).sum() / clean_right) if clean_right else math.nan,
        "mean_norm": math.nan,
        "median_norm": math.nan,
        "grad_evals": 0,
        "seconds": float(seconds),
        "bound": MEASURED,
        "corruption": corruption,
        "severity": int(severity),
    }


def corrupted_rows(results: Results) -> list[SummaryRow]:
    """Every corruption suite's rows, for every model: one per corruption and severity."""
    labels = np.asarray(results["data"]["labels"])
    rows: list[SummaryRow] = []
    for model, per_model in results["examples"].items():
        clean = np.asarray(per_model["clean_pred"]) == labels
        for suite in results["suite"].get("corruption_suites", []):
            records = per_model.get("corruption_suites", {}).get(suite["name"], {})
            for corruption in suite["corruptions"]:
                record = records.get(corruption)
                if record is None:
                    continue
                predictions = np.asarray(record["prediction"])
                for j, severity in enumerate(record["severities"]):
                    right = predictions[:, j] == labels
                    rows.append(_row(model, suite, corruption, severity, right, clean, record["cell_seconds"][j]))
    return rows


def accuracy_grid(summary: Any, model: str, suite: str) -> dict[tuple[str, int], float]:
    """``{(corruption, severity): accuracy}`` of one model and corruption suite, from the summary."""
    rows = summary[(summary["model"] == model) & (summary["attack_suite"] == suite) & (summary["bound"] == MEASURED)]
    return {(r.corruption, int(r.severity)): float(r.robust_accuracy) for r in rows.itertuples()}


def corruption_error(accuracy: dict, baseline: dict, corruptions: list[str]) -> float:
    """mCE: the mean over ``corruptions`` of the model's errors summed over severities, over the baseline's."""
    ratios = []
    for c in corruptions:
        ours = sum(1 - a for (name, _), a in accuracy.items() if name == c)
        theirs = sum(1 - a for (name, _), a in baseline.items() if name == c)
        ratios.append(ours / theirs if theirs > 0 else math.nan)
    return _mean_of_defined(ratios)


def _mean_of_defined(ratios: list[float]) -> float:
    """The mean over the corruptions whose ratio is defined (the baseline erred on them)."""
    defined = [r for r in ratios if not math.isnan(r)]
    return float(np.mean(defined)) if defined else math.nan


def relative_corruption_error(
    accuracy: dict, clean: float, baseline: dict, baseline_clean: float, corruptions: list[str]
) -> float:
    """Relative mCE: as :func:`corruption_error`, each model's clean error subtracted from each term first."""
    ratios = []
    for c in corruptions:
        ours = sum((1 - a) - (1 - clean) for (name, _), a in accuracy.items() if name == c)
        theirs = sum((1 - a) - (1 - baseline_clean) for (name, _), a in baseline.items() if name == c)
        ratios.append(ours / theirs if theirs > 0 else math.nan)
    return _mean_of_defined(ratios)


def overview(summary: Any, model: str, suite: CorruptionSuiteConfig, model_specs: dict[str, str]) -> dict:
    """One model's headline figures for one corruption suite: clean accuracy, mean corruption accuracy
    (over the benchmark's corruptions and every severity), the mean per severity, the worst corruption,
    the held-out corruptions' mean, and mCE and relative mCE against the suite's baseline (NaN without one)."""
    grid = accuracy_grid(summary, model, suite["name"])
    rows = summary[(summary["model"] == model) & (summary["attack_suite"] == suite["name"])]
    clean = float(rows["clean_accuracy"].iloc[0]) if len(rows) else math.nan
    counted = [c for c in suite["corruptions"] if c not in suite["held_out"]]
    scored = {k: v for k, v in grid.items() if k[0] in counted}
    held = [v for k, v in grid.items() if k[0] in suite["held_out"]]
    by_corruption = {
        c: float(np.mean([v for k, v in scored.items() if k[0] == c]))
        for c in counted
        if (c, suite["severities"][0]) in scored
    }
    figures = {
        "clean": clean,
        "mean": float(np.mean(list(scored.values()))) if scored else math.nan,
        "by_severity": {
            s: float(np.mean([v for k, v in scored.items() if k[1] == s])) for s in suite["severities"] if scored
        },
        "by_corruption": by_corruption,
        "worst": min(by_corruption, key=lambda c: by_corruption[c]) if by_corruption else "",
        "held_out_mean": float(np.mean(held)) if held else math.nan,
        "mce": math.nan,
        "relative_mce": math.nan,
    }
    baseline = next((label for label, spec in model_specs.items() if suite["baseline"] in (label, spec)), None)
    if baseline is not None:
        base_grid = {k: v for k, v in accuracy_grid(summary, baseline, suite["name"]).items() if k[0] in counted}
        base_rows = summary[(summary["model"] == baseline) & (summary["attack_suite"] == suite["name"])]
        base_clean = float(base_rows["clean_accuracy"].iloc[0]) if len(base_rows) else math.nan
        figures["mce"] = corruption_error(scored, base_grid, counted)
        figures["relative_mce"] = relative_corruption_error(scored, clean, base_grid, base_clean, counted)
    return figures

"""Tables from results: robust accuracy per (model, attack suite, attack, eps), worst case included, and
the verification suites' proved accuracy (:mod:`robustkit.evaluation.verified`) beside it.

Everything here reads a :class:`~robustkit.evaluation.results.Results`, so a report can be
rebuilt from ``results.json`` alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustkit.evaluation.corrupted import corrupted_rows
from robustkit.evaluation.results import (
    SUMMARY_COLUMNS,
    AttackRecord,
    AttackSuiteConfig,
    Results,
    SummaryRow,
    as_floats,
)
from robustkit.evaluation.verified import verified_rows
from robustkit.stats import wilson_interval

EXAMPLE_COLUMNS = [
    "model",
    "attack_suite",
    "norm",
    "attack",
    "index",
    "label",
    "clean_pred",
    "broken_eps",
    "adv_pred",
    "perturbation_norm",
]


def summary_row(
    model: str,
    suite: AttackSuiteConfig,
    attack: str,
    eps: float,
    correct: np.ndarray,
    broken_eps: np.ndarray,
    norms: np.ndarray,
    grad_evals: int,
    seconds: float,
) -> SummaryRow:
    """One row: robust accuracy (with its Wilson interval) when each example breaks at ``broken_eps``."""
    n = len(correct)
    broken = ~np.isnan(broken_eps) & (broken_eps <= eps + 1e-12)
    robust = correct & ~broken
    k = int(robust.sum())
    low, high = wilson_interval(k, n)
    broken_norms = norms[broken]
    n_correct = int(correct.sum())
    return {
        "model": model,
        "attack_suite": suite["name"],
        "attack": attack,
        "norm": suite["norm"],
        "eps": float(eps),
        "n": n,
        "clean_accuracy": float(correct.mean()),
        "robust_accuracy": k / n,
        "robust_accuracy_low": low,
        "robust_accuracy_high": high,
        "success_rate": float(broken[correct].sum() / n_correct) if n_correct else float("nan"),
        "mean_norm": float(broken_norms.mean()) if broken_norms.size else float("nan"),
        "median_norm": float(np.median(broken_norms)) if broken_norms.size else float("nan"),
        "grad_evals": int(grad_evals),
        "seconds": float(seconds),
        "bound": "upper",
        "corruption": "",
        "severity": 0,
    }


def summarize(results: Results) -> pd.DataFrame:
    """The summary table: one row per model, attack suite, attack and eps, then the verification suites'."""
    rows: list[SummaryRow] = []
    labels = np.asarray(results["data"]["labels"])
    for model, per_model in results["examples"].items():
        correct = np.asarray(per_model["clean_pred"]) == labels
        for suite in results["suite"]["attack_suites"]:
            rows += _suite_rows(model, suite, per_model["attack_suites"][suite["name"]], correct)
    rows += verified_rows(results)  # proofs' rows (bound "lower") beside the attacks' ("upper")
    rows += corrupted_rows(results)  # accuracy under corruptions (bound "measured")
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def example_table(results: Results) -> pd.DataFrame:
    """One row per model, attack suite, attack and example (large: the columns of examples.npz, joined)."""
    frames = []
    labels = np.asarray(results["data"]["labels"])
    index = np.arange(len(labels))
    for model, per_model in results["examples"].items():
        clean_pred = np.asarray(per_model["clean_pred"])
        for suite in results["suite"]["attack_suites"]:
            for attack, record in per_model["attack_suites"][suite["name"]].items():
                per_example = (
                    as_floats(record["broken_eps"]),
                    np.asarray(record["adv_pred"]),
                    as_floats(record["norm"]),
                )
                columns = (model, suite["name"], suite["norm"], attack, index, labels, clean_pred, *per_example)
                frames.append(pd.DataFrame(dict(zip(EXAMPLE_COLUMNS, columns))))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EXAMPLE_COLUMNS)


def _suite_rows(
    model: str, suite: AttackSuiteConfig, per_attack: dict[str, AttackRecord], correct: np.ndarray
) -> list[SummaryRow]:
    """Each attack's rows, then the worst case: per example, the smallest eps any attack broke it at.

    An attack that could not run (no input gradient) gets rows without a robust accuracy, and
    the worst case is taken over the attacks that ran (none: no robust accuracy either).
    """
    rows = []
    worst_eps = np.full(len(correct), np.inf)
    worst_norm = np.full(len(correct), np.nan)
    ran = [a for a, record in per_attack.items() if not record.get("no_gradient", False)]
    for attack, record in per_attack.items():
        broken_eps, norms = as_floats(record["broken_eps"]), as_floats(record["norm"])
        for eps, evals, seconds in zip(suite["eps"], record["cell_grad_evals"], record["cell_seconds"]):
            row = summary_row(model, suite, attack, eps, correct, broken_eps, norms, evals, seconds)
            rows.append(row if attack in ran else _not_measured(row))
        if attack not in ran:
            continue
        at = np.nan_to_num(broken_eps, nan=np.inf)
        worst_norm = np.where(at < worst_eps, norms, np.where(at == worst_eps, np.fmin(worst_norm, norms), worst_norm))
        worst_eps = np.minimum(worst_eps, at)
    worst = np.where(np.isinf(worst_eps), np.nan, worst_eps)
    for j, eps in enumerate(suite["eps"]):
        evals = sum(per_attack[a]["cell_grad_evals"][j] for a in per_attack)
        seconds = sum(per_attack[a]["cell_seconds"][j] for a in per_attack)
        row = summary_row(model, suite, "worst-case", eps, correct, worst, worst_norm, evals, seconds)
        rows.append(row if ran else _not_measured(row))
    return rows


def _not_measured(row: SummaryRow) -> SummaryRow:
    """A row whose attack could not run: no robust accuracy, rather than a wrong one."""
    nan = float("nan")
    return {**row, "robust_accuracy": nan, "robust_accuracy_low": nan, "robust_accuracy_high": nan, "success_rate": nan}

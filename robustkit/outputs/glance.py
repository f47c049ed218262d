"""What a report shows first: one row per model (clean accuracy, worst-case robust accuracy at each
threat model's headline eps, the trust checks' verdict), and the checks as a models x checks matrix
whose explanations are written once.

Example:
    >>> headline_eps({"eps": [0.01, 0.05, 0.1, 0.2], "headline_eps": 0.1}), headline_eps({"eps": [0.1, 0.2, 0.5]})
    (0.1, 0.2)
    >>> _eps_text({"eps": [2.0, 8.0], "eps_written": ["2/255", "8/255"]}, 8.0)
    '8/255 (8)'

    >>> verdict([{"status": "pass", "name": "a"}, {"status": "warn", "name": "b"}])
    'warn: b'
    >>> verdict([{"status": "pass", "name": "a"}, {"status": "n/a", "name": "b"}])
    'pass (n/a: b)'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustkit.evaluation.results import AttackSuiteConfig, CheckRecord, Results, headline_eps
from robustkit.outputs.certified_report import headline_certified
from robustkit.outputs.corruption_report import headline_corruption
from robustkit.outputs.verified_report import headline_verified


def verdict(checks: list[CheckRecord] | list[dict]) -> str:
    """``pass`` (naming the checks that did not apply), or the worst status with the checks that have it."""
    for status in ("fail", "warn"):
        names = [c["name"] for c in checks if c["status"] == status]
        if names:
            return f"{status}: {', '.join(names)}"
    if not checks:
        return "not run"
    unused = [c["name"] for c in checks if c["status"] == "n/a"]
    return f"pass (n/a: {', '.join(unused)})" if unused else "pass"


def _eps_text(attack_suite: AttackSuiteConfig, eps: float) -> str:
    written = dict(zip(attack_suite["eps"], attack_suite.get("eps_written") or []))
    text = written.get(eps, f"{eps:g}")
    return text if text == f"{eps:g}" else f"{text} ({eps:g})"  # as written, and in input units


def summary_rows(results: Results, summary: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """Per model: clean accuracy, worst-case robust accuracy at each headline eps (%), the best certified
    accuracy at each certification suite's headline radius (%), the proved and attacked accuracy at each
    verification suite's headline eps (%), checks' verdict."""
    worst = summary[summary["attack"] == "worst-case"]
    columns = ["model", "clean"]
    headlines = []
    for attack_suite in results["suite"]["attack_suites"]:
        eps = headline_eps(attack_suite)
        headlines.append((attack_suite["name"], eps))
        columns.append(f"{attack_suite['name']} @ {_eps_text(attack_suite, eps)}")
    columns.append("trust checks")
    rows = []
    for model, info in results["models"].items():
        row = {"model": model, "clean": f"{100 * info['clean_accuracy']:.1f}"}
        for column, (suite_name, eps) in zip(columns[2:], headlines):
            match = worst[(worst["model"] == model) & (worst["attack_suite"] == suite_name)]
            match = match[np.isclose(match["eps"], eps)]
            value = match["robust_accuracy"].iloc[0] if len(match) else float("nan")
            row[column] = "–" if np.isnan(value) else f"{100 * value:.1f}"
        for certification_suite in results["suite"].get("certification_suites", []):
            column, row[column] = headline_certified(results, model, certification_suite)
        for verification_suite in results["suite"].get("verification_suites", []):
            column, row[column] = headline_verified(summary, model, verification_suite)
        for corruption_suite in results["suite"].get("corruption_suites", []):
            column, row[column] = headline_corruption(results, summary, model, corruption_suite)
        row["trust checks"] = verdict([c for c in results.get("checks") or [] if c["model"] == model])
        rows.append(row)
    certified = [headline_certified(results, "", s)[0] for s in results["suite"].get("certification_suites", [])]
    verified = [headline_verified(summary, "", s)[0] for s in results["suite"].get("verification_suites", [])]
    corrupted = [headline_corruption(results, summary, "", s)[0] for s in results["suite"].get("corruption_suites", [])]
    return rows, columns[:-1] + certified + verified + corrupted + columns[-1:]


def checks_matrix(results: Results) -> tuple[list[dict], list[str], dict[str, str]]:
    """Rows of models, a column per check (``STATUS value``), and each check's explanation once."""
    checks = results.get("checks") or []
    names = list(dict.fromkeys(c["name"] for c in checks))
    explanations = {c["name"]: c["message"] for c in checks}
    rows = []
    for model in dict.fromkeys(c["model"] for c in checks):
        row = {"model": model}
        for check in (c for c in checks if c["model"] == model):
            row[check["name"]] = f"{check['status'].upper()} {check['value']}".strip()
        rows.append(row)
    return rows, ["model", *names], explanations

"""What reports show of verification suites: the sandwich proved <= true robust accuracy <= attacked.

Per model and eps of a verification suite: the share proved by the bounds, the share proved once
the exact verifier has run, the attacked accuracy (the strongest of the run's attack suites of the
same norm at that eps, and the complete verifier's counterexamples), and between the two the unknown
share, the honest uncertainty of the robustness number. The Markdown and HTML reports show the
table; :mod:`robustkit.outputs.plots` draws the two curves and the band between them.

Example:
    >>> row = {"proved": 0.8, "attacked": 0.9}
    >>> round(unknown_share(row), 3)
    0.1
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from robustkit.evaluation.results import Results, VerificationSuiteConfig, middle_eps

VERIFIED_SUMMARY = "proved and attacked accuracy (%) at each verification suite's headline eps, "


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def unknown_share(row: dict) -> float:
    """The share of examples neither proved robust nor broken: attacked minus proved."""
    return max(0.0, row["attacked"] - row["proved"])


def verification_headline_eps(suite: VerificationSuiteConfig) -> float:
    return float(suite["headline_eps"]) if "headline_eps" in suite else middle_eps(suite["eps"])


def _value(part: pd.DataFrame, answer: str) -> float:
    found = part[part["attack"] == answer]["robust_accuracy"]
    return float(found.iloc[0]) if len(found) else math.nan


def sandwich(summary: pd.DataFrame, suite: VerificationSuiteConfig) -> list[dict[str, Any]]:
    """Per model and eps: clean, proved by the bounds, proved (the best lower bound), attacked (the best upper
    bound) and what attained it."""
    own = summary[summary["attack_suite"] == suite["name"]]
    attacked = summary[(summary["attack"] == "worst-case") & (summary["norm"] == suite["norm"])]
    rows = []
    for model in dict.fromkeys(own["model"]):
        for eps in suite["eps"]:
            part = own[(own["model"] == model) & np.isclose(own["eps"], eps)]
            bounds = _value(part, "proved-bounds")
            exact = _value(part, "proved-exact")
            upper = {}  # the attack suites first: on a tie they name the upper bound
            for r in attacked[(attacked["model"] == model) & np.isclose(attacked["eps"], eps)].itertuples():
                upper[str(r.attack_suite)] = float(r.robust_accuracy)
            upper["exact verifier"] = _value(part, "refuted-exact")
            measured = {k: v for k, v in upper.items() if not math.isnan(v)}
            best_upper = min(measured.values()) if measured else math.nan
            clean = float(part["clean_accuracy"].iloc[0]) if len(part) else math.nan
            rows.append(
                {
                    "model": model,
                    "eps": float(eps),
                    "clean": clean,
                    "bounds": bounds,
                    "proved": exact if not math.isnan(exact) else bounds,
                    "attacked": best_upper if measured else clean,
                    "attacked_by": min(measured, key=measured.__getitem__) if measured else "",
                }
            )
    return rows


def verification_text(suite: VerificationSuiteConfig) -> str:
    """What a verification suite's table means, in words."""
    verifier = (
        "branch and bound with alpha- and beta-CROWN"
        if suite.get("complete", "milp") == "bab"
        else "a mixed-integer program"
    )
    exact = (
        f" 'proved (exact)' adds what the complete verifier ({verifier}, {suite['time_limit']:g} s per "
        "example and eps) proved among the examples the bounds left open."
        if suite["exact"]
        else ""
    )
    return (
        f"Three answers per example at each {suite['norm'].upper().replace('LINF', 'L-inf')} eps, all about the "
        "model itself: proved (no input in the ball changes the prediction, a lower bound on robust accuracy), "
        "broken (an attack or a counterexample found an input that does, an upper bound) and unknown (neither; "
        f"the gap between the two bounds). 'proved (bounds)' is sound bound propagation ({suite['method']})."
        + exact
        + " 'attacked' is the strongest of the run's attack suites of the same norm at that eps and the complete "
        "verifier's counterexamples, named under 'attacked by'."
    )


def sandwich_rows(summary: pd.DataFrame, suite: VerificationSuiteConfig) -> tuple[list[dict], list[str]]:
    """The report's table of one verification suite: a row per model and eps, shares in %."""
    columns = ["model", "eps", "clean", "proved (bounds)"]
    columns += ["proved (exact)"] if suite["exact"] else []
    columns += ["attacked", "attacked by", "unknown"]
    rows = []
    for r in sandwich(summary, suite):
        row = {
            "model": r["model"],
            "eps": f"{r['eps']:g}",
            "clean": _pct(r["clean"]),
            "proved (bounds)": _pct(r["bounds"]),
        }
        if suite["exact"]:
            row["proved (exact)"] = _pct(r["proved"])
        row.update(attacked=_pct(r["attacked"]), **{"attacked by": r["attacked_by"]}, unknown=_pct(unknown_share(r)))
        rows.append(row)
    return rows, columns


def headline_verified(summary: pd.DataFrame, model: str, suite: VerificationSuiteConfig) -> tuple[str, str]:
    """The summary's column for a verification suite, and one model's value at the headline eps, e.g.
    ``('verify-linf proved @ 0.05', '86.0 (attacked 90.0)')``."""
    eps = verification_headline_eps(suite)
    column = f"{suite['name']} proved @ {eps:g}"
    for r in sandwich(summary, suite):
        if r["model"] == model and math.isclose(r["eps"], eps):
            return column, f"{_pct(r['proved'])} (attacked {_pct(r['attacked'])})"
    return column, "–"


def verification_sections(results: Results, summary: pd.DataFrame) -> list[tuple[str, str, list[dict], list[str]]]:
    """Per verification suite: its heading, its text, and its table's rows and columns."""
    sections = []
    for suite in results["suite"].get("verification_suites", []):
        rows, columns = sandwich_rows(summary, suite)
        heading = f"Verified robustness: {suite['name']} (proved, unknown, attacked; {suite['norm']})"
        sections.append((heading, verification_text(suite), rows, columns))
    return sections


def any_verified(results: Any) -> bool:
    return bool(results["suite"].get("verification_suites"))

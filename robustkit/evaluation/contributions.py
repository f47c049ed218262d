"""Which attack broke what: per attack suite and model, at the headline eps, how many examples each
attack broke that every attack before it (in the suite's order) had left robust.

That is AutoAttack's log: the robust accuracy after each attack, and each attack's share of the
drop. The counts add up to the examples broken by the whole suite at that eps.

Example:
    >>> records = {"a": {"broken_eps": [0.1, np.nan, 0.2]}, "b": {"broken_eps": [0.05, 0.1, np.nan]}}
    >>> first_breaks(records, ["a", "b"], 0.1)
    {'a': 1, 'b': 1}
"""

from __future__ import annotations

import numpy as np

from robustkit.evaluation.results import ContributionRow, Results, broken_at, headline_eps


def first_breaks(records: dict, order: list[str], eps: float) -> dict[str, int]:
    """Per attack, the examples broken at ``eps`` (or below) by it and by no attack before it."""
    counts: dict[str, int] = {}
    done: np.ndarray | None = None
    for name in order:
        broken = broken_at(records[name]["broken_eps"]) <= eps
        done = broken if done is None else done | broken
        counts[name] = int(done.sum()) - sum(counts.values())
    return counts


def contribution_rows(results: Results) -> list[ContributionRow]:
    """One row per model and attack suite: each attack's first breaks at the suite's headline eps."""
    rows: list[ContributionRow] = []
    for suite in results["suite"]["attack_suites"]:
        order = [a["name"] for a in suite["attacks"]]
        if len(order) < 2:
            continue
        eps = headline_eps(suite)
        for model, per_model in results["examples"].items():
            records = per_model["attack_suites"][suite["name"]]
            counts = first_breaks(records, order, eps)
            clean = np.asarray(per_model["clean_pred"]) == np.asarray(results["data"]["labels"])
            still = int(clean.sum()) - sum(counts.values())
            row = ContributionRow(
                model=model, attack_suite=suite["name"], eps=eps, broken_first=counts, still_robust=still
            )
            rows.append(row)
    return rows


def shown_rows(rows: list[ContributionRow], attack_suite: str) -> list[dict]:
    """An attack suite's rows as a report shows them: a column per attack, then the examples still robust."""
    return [
        {"model": r["model"], **r["broken_first"], "still robust": r["still_robust"]}
        for r in rows
        if r["attack_suite"] == attack_suite
    ]

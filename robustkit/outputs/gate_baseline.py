"""The gate's comparison with a baseline run: did worst-case robust accuracy move at any eps?

Example:
    >>> find_row([{"model": "m", "attack_suite": "linf", "norm": "linf", "eps": 0.1}], "m", "linf", 0.1)["eps"]
    0.1
"""

from __future__ import annotations

import math
from statistics import NormalDist

from robustkit.evaluation.results import Results, SummaryRow
from robustkit.outputs.conditions import Condition
from robustkit.stats import two_proportion_z


def worst_rows(results: Results) -> list[SummaryRow]:
    return [r for r in results["summary"] if r["attack"] == "worst-case"]


def find_row(rows: list[SummaryRow], model: str, attack_suite: str, eps: float) -> SummaryRow | None:
    for row in rows:
        if (
            row["model"] == model
            and attack_suite in (row["attack_suite"], row["norm"])
            and math.isclose(row["eps"], eps, rel_tol=1e-9, abs_tol=1e-12)
        ):
            return row
    return None


def baseline_conditions(
    results: Results, baseline: Results, confidence: float = 0.95, tolerance: float | None = None
) -> list[Condition]:
    """Per model and attack suite: does robust accuracy move away from the baseline's at any eps?

    A drop fails. A rise fails too when the model's weights are the baseline's own (same fingerprint):
    on a fixed model robust accuracy can only rise because the attack got weaker (or the forward pass
    changed around the same weights, e.g. a masking layer). Without ``tolerance`` a change counts when
    a one-sided pooled two-proportion z-test rejects "no change" at ``confidence``; with it, when the
    change exceeds ``tolerance``. A model and attack suite with no eps in common with the baseline fails:
    a new grid or model needs a new baseline (``--update-baseline``).
    """
    if baseline["data"]["fingerprint"] != results["data"]["fingerprint"]:
        return [
            Condition(
                "baseline",
                "baseline data",
                False,
                "the baseline was computed on different data (fingerprints "
                f"{baseline['data']['fingerprint']} vs {results['data']['fingerprint']}); compare like with like "
                "or write a new baseline with --update-baseline",
            )
        ]
    critical = NormalDist().inv_cdf(confidence)
    rule = (
        f"change > {tolerance:.2%}"
        if tolerance is not None
        else f"one-sided two-proportion test at {confidence:.0%} (|z| > {critical:.2f})"
    )
    base_rows = worst_rows(baseline)
    groups: dict[tuple[str, str], list[SummaryRow]] = {}
    for row in worst_rows(results):
        groups.setdefault((row["model"], row["attack_suite"]), []).append(row)
    conditions = []
    for (model, attack_suite), rows in groups.items():
        ours = _fingerprint(results, model)
        same_weights = ours not in (None, "n/a") and ours == _fingerprint(baseline, model)
        pairs = [(row, base) for row in rows if (base := find_row(base_rows, model, attack_suite, row["eps"]))]
        name = f"{model} {attack_suite} vs baseline"
        if not pairs:
            conditions.append(
                Condition("baseline", name, False, _nothing_to_compare(base_rows, model, attack_suite, rows))
            )
            continue
        found = [c for row, base in pairs if (c := _change(row, base, same_weights, critical, tolerance))]
        changes = [text for _, text in found]
        direction = "regressed" if any(kind == "regressed" for kind, _ in found) else "rose"
        unmatched = len(rows) - len(pairs)
        note = f"; {unmatched} eps values have no baseline row" if unmatched else ""
        conditions.append(
            Condition(
                "baseline",
                name,
                not changes,
                (f"robust accuracy {direction} ({rule}): " + "; ".join(changes) + note)
                if changes
                else f"no regression at {len(pairs)} eps values ({rule}){note}",
                changes,
            )
        )
    return conditions


def _fingerprint(results: Results, model: str) -> str | None:
    info = results["models"].get(model)
    return None if info is None else info.get("fingerprint")


def _change(
    row: SummaryRow, base: SummaryRow, same_weights: bool, critical: float, tolerance: float | None
) -> tuple[str, str] | None:
    """Whether one eps fails the comparison, and why: ``("regressed", ...)`` for a drop (or nothing to
    compare), ``("rose", ...)`` for a rise on the baseline's own weights, ``None`` when it passes."""
    if math.isnan(row["robust_accuracy"]) or math.isnan(base["robust_accuracy"]):
        return "regressed", f"eps={row['eps']:g}: no robust accuracy to compare (an attack could not run)"
    drop = base["robust_accuracy"] - row["robust_accuracy"]
    k_base, k_now = round(base["robust_accuracy"] * base["n"]), round(row["robust_accuracy"] * row["n"])
    z = two_proportion_z(k_base, base["n"], k_now, row["n"])
    moved = f"eps={row['eps']:g}: {base['robust_accuracy']:.2%} -> {row['robust_accuracy']:.2%}"
    if (drop > tolerance) if tolerance is not None else (drop > 0 and z > critical):
        return "regressed", f"{moved} (drop {drop:.2%}, z={z:.2f})"
    if same_weights and ((-drop > tolerance) if tolerance is not None else (drop < 0 and -z > critical)):
        return "rose", (
            f"{moved} (rise {-drop:.2%}, z={-z:.2f}) on the baseline's own weights: the attack got weaker, "
            "or the model's forward pass changed around the same weights"
        )
    return None


def _nothing_to_compare(base_rows: list[SummaryRow], model: str, attack_suite: str, rows: list[SummaryRow]) -> str:
    theirs = sorted(r["eps"] for r in base_rows if r["model"] == model and r["attack_suite"] == attack_suite)
    ours = ", ".join(f"{r['eps']:g}" for r in rows)
    if not theirs:
        return (
            f"the baseline has no {model} {attack_suite} rows (a new model or attack suite): nothing was "
            "compared; write a new baseline with --update-baseline"
        )
    return (
        f"no eps in common with the baseline (this run: {ours}; baseline: {', '.join(f'{e:g}' for e in theirs)}): "
        "nothing was compared; run the baseline's grid, or write a new baseline with --update-baseline"
    )

"""The robustness gate: thresholds, a statistical comparison with a baseline, and sanity checks.

``evaluate_gate`` turns a run's ``results.json`` into a list of :class:`Condition`; the build
passes when every condition does. ``junit_xml`` and ``markdown_summary`` render them for CI
systems (one JUnit test case per condition).

Example:
    >>> parse_threshold("linf:0.1=0.8")
    Threshold(model=None, attack_suite='linf', eps=0.1, minimum=0.8)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from robustkit.errors import ConfigError
from robustkit.evaluation.results import Results, SummaryRow
from robustkit.stats import two_proportion_z


@dataclass(frozen=True)
class Threshold:
    model: str | None
    attack_suite: str  # an attack suite's name, or a norm
    eps: float
    minimum: float


@dataclass
class Condition:
    """One thing the gate checked: a threshold, a baseline comparison or a sanity check."""

    kind: str  # "threshold", "baseline", "check"
    name: str
    passed: bool
    message: str
    details: list[str] = field(default_factory=list)


_THRESHOLD = re.compile(r"^(?:(?P<model>[^/=]+)/)?(?P<attack_suite>[^:=/]+):(?P<eps>[^=]+)=(?P<minimum>.+)$")


def parse_threshold(text: str) -> Threshold:
    """Parse ``[model/]attack_suite:eps=minimum``, e.g. ``linf:0.1=0.80`` or ``digits-cnn/l2:0.5=0.6``."""
    match = _THRESHOLD.match(text.strip())
    if not match:
        raise ConfigError(f"Bad threshold {text!r}: write [model/]attack_suite:eps=minimum, e.g. linf:0.1=0.80.")
    try:
        eps, minimum = float(match["eps"]), float(match["minimum"])
    except ValueError:
        raise ConfigError(f"Bad threshold {text!r}: eps and minimum must be numbers.") from None
    if not (0 <= minimum <= 1) or not math.isfinite(eps) or eps < 0:
        raise ConfigError(f"Bad threshold {text!r}: the minimum is a robust accuracy in [0, 1] and eps >= 0.")
    return Threshold(match["model"], match["attack_suite"], eps, minimum)


def _worst_rows(results: Results) -> list[SummaryRow]:
    return [r for r in results["summary"] if r["attack"] == "worst-case"]


def _find(rows: list[SummaryRow], model: str, attack_suite: str, eps: float) -> SummaryRow | None:
    for row in rows:
        if (
            row["model"] == model
            and attack_suite in (row["attack_suite"], row["norm"])
            and math.isclose(row["eps"], eps, rel_tol=1e-9, abs_tol=1e-12)
        ):
            return row
    return None


def threshold_conditions(results: Results, thresholds: list[Threshold]) -> list[Condition]:
    rows = _worst_rows(results)
    models = list(results["models"])
    conditions = []
    for threshold in thresholds:
        for model in [threshold.model] if threshold.model else models:
            if model not in models:
                raise ConfigError(
                    f"Threshold names model {model!r}, which the run does not have ({', '.join(models)})."
                )
            row = _find(rows, model, threshold.attack_suite, threshold.eps)
            if row is None:
                grid = sorted({(r["attack_suite"], r["eps"]) for r in rows})
                raise ConfigError(
                    f"Threshold {threshold.attack_suite}:{threshold.eps:g} matches no result; the run has "
                    + ", ".join(f"{t}:{e:g}" for t, e in grid)
                    + "."
                )
            accuracy = row["robust_accuracy"]
            passed = accuracy >= threshold.minimum
            conditions.append(
                Condition(
                    "threshold",
                    f"{model} {row['attack_suite']} eps={threshold.eps:g} robust accuracy >= {threshold.minimum:.2%}",
                    passed,
                    f"robust accuracy {accuracy:.2%} (95% interval {row['robust_accuracy_low']:.2%}-"
                    f"{row['robust_accuracy_high']:.2%}) "
                    f"{'>=' if passed else '<'} {threshold.minimum:.2%}",
                )
            )
    return conditions


def baseline_conditions(
    results: Results, baseline: Results, confidence: float = 0.95, tolerance: float | None = None
) -> list[Condition]:
    """Per model and attack suite: does robust accuracy drop below the baseline's at any eps?

    Without ``tolerance`` a drop counts when a one-sided pooled two-proportion z-test rejects
    "no drop" at ``confidence``; with it, when the drop exceeds ``tolerance``.
    """
    conditions = []
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
    base_rows = _worst_rows(baseline)
    groups: dict[tuple[str, str], list[SummaryRow]] = {}
    for row in _worst_rows(results):
        groups.setdefault((row["model"], row["attack_suite"]), []).append(row)
    for (model, attack_suite), rows in groups.items():
        regressions, compared = [], 0
        for row in rows:
            base = _find(base_rows, model, attack_suite, row["eps"])
            if base is None:
                continue
            compared += 1
            if math.isnan(row["robust_accuracy"]) or math.isnan(base["robust_accuracy"]):
                regressions.append(f"eps={row['eps']:g}: no robust accuracy to compare (an attack could not run)")
                continue
            drop = base["robust_accuracy"] - row["robust_accuracy"]
            k_base = round(base["robust_accuracy"] * base["n"])
            k_now = round(row["robust_accuracy"] * row["n"])
            z = two_proportion_z(k_base, base["n"], k_now, row["n"])
            failed = drop > tolerance if tolerance is not None else (drop > 0 and z > critical)
            if failed:
                regressions.append(
                    f"eps={row['eps']:g}: {base['robust_accuracy']:.2%} -> {row['robust_accuracy']:.2%} "
                    f"(drop {drop:.2%}, z={z:.2f})"
                )
        rule = (
            f"drop > {tolerance:.2%}"
            if tolerance is not None
            else f"one-sided two-proportion test at {confidence:.0%} (z > {critical:.2f})"
        )
        if not compared:
            conditions.append(
                Condition(
                    "baseline",
                    f"{model} {attack_suite} vs baseline",
                    True,
                    "no baseline rows to compare (new model or grid)",
                )
            )
            continue
        conditions.append(
            Condition(
                "baseline",
                f"{model} {attack_suite} vs baseline",
                not regressions,
                (f"robust accuracy regressed ({rule}): " + "; ".join(regressions))
                if regressions
                else f"no regression at {compared} eps values ({rule})",
                regressions,
            )
        )
    return conditions


def trust_check_conditions(results: Results, allowed: set[str]) -> list[Condition]:
    conditions = []
    for check in results.get("checks") or []:
        allowed_failure = check["status"] == "fail" and check["name"] in allowed
        passed = check["status"] != "fail" or allowed_failure
        note = " (failure allowed)" if allowed_failure else ""
        conditions.append(
            Condition(
                "check",
                f"{check['model']} trust check {check['name']}",
                passed,
                f"{check['status'].upper()}{note}: {check['value']}. {check['message']}",
            )
        )
    return conditions


def evaluate_gate(
    results: Results,
    baseline: Results | None = None,
    thresholds: list[Threshold] | None = None,
    confidence: float = 0.95,
    tolerance: float | None = None,
    allowed_checks: set[str] | None = None,
) -> list[Condition]:
    """Every condition of the gate for one run."""
    conditions = threshold_conditions(results, thresholds or [])
    if baseline is not None:
        conditions += baseline_conditions(results, baseline, confidence, tolerance)
    conditions += trust_check_conditions(results, allowed_checks or set())
    return conditions


def junit_xml(conditions: list[Condition], suite: str) -> str:
    """JUnit XML with one test case per condition (a failed condition is a failed test)."""
    failures = sum(not c.passed for c in conditions)
    cases = []
    for c in conditions:
        body = (
            ""
            if c.passed
            else f"<failure message={quoteattr(c.message)}>{escape(chr(10).join([c.message] + c.details))}</failure>"
        )
        cases.append(f'  <testcase classname="robustkit.{c.kind}" name={quoteattr(c.name)}>{body}</testcase>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name={quoteattr("robustkit gate: " + suite)} tests="{len(conditions)}" '
        f'failures="{failures}" errors="0">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )


def markdown_summary(conditions: list[Condition], results: Results, baseline_path: Any = None) -> str:
    failed = [c for c in conditions if not c.passed]
    verdict = "FAILED" if failed else "PASSED"
    lines = [f"## robustkit gate {verdict}: {results['suite']['name']}", ""]
    lines.append(
        f"{len(conditions) - len(failed)} of {len(conditions)} conditions hold"
        + (f"; baseline `{baseline_path}`" if baseline_path else "; no baseline")
        + "."
    )
    lines += ["", "| | condition | result |", "|---|---|---|"]
    for c in sorted(conditions, key=lambda c: c.passed):
        lines.append(f"| {'✅' if c.passed else '❌'} | {c.name} | {c.message.replace('|', '/')} |")
    return "\n".join(lines) + "\n"

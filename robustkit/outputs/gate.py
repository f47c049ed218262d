"""The robustness gate: thresholds, a statistical comparison with a baseline, and sanity checks.

``evaluate_gate`` turns a run's ``results.json`` into a list of :class:`Condition`; the build
passes when every condition does. ``junit_xml`` and ``markdown_summary`` render them for CI
systems (one JUnit test case per condition; a trust check that did not apply is a skipped case).

A threshold's eps is written as ``--eps`` takes it: a number in input units, or a fraction of the
input range (``linf:8/255=0.9`` means 8 on [0, 255] data and 8/255 on [0, 1] data).

Example:
    >>> parse_threshold("linf:0.1=0.8")
    Threshold(model=None, attack_suite='linf', eps=0.1, minimum=0.8)
    >>> parse_threshold("linf:8/255=0.9").eps
    Fraction(8, 255)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from statistics import NormalDist
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from robustkit.errors import ConfigError
from robustkit.evaluation.results import Results, SummaryRow
from robustkit.ranges import Eps, eps_label, in_input_units, parse_eps
from robustkit.stats import two_proportion_z


@dataclass(frozen=True)
class Threshold:
    model: str | None
    attack_suite: str  # an attack suite's name, or a norm
    eps: Eps  # in input units, or a fraction of the input range
    minimum: float
    written: str = field(default="", compare=False, repr=False)  # the threshold as the user wrote it

    @property
    def text(self) -> str:
        shown = f"{self.model + '/' if self.model else ''}{self.attack_suite}:{eps_label(self.eps)}={self.minimum:g}"
        return self.written or shown


@dataclass
class Condition:
    """One thing the gate checked: a threshold, a baseline comparison or a sanity check."""

    kind: str  # "threshold", "baseline", "check"
    name: str
    passed: bool
    message: str
    details: list[str] = field(default_factory=list)
    skipped: bool = False  # nothing to check (a trust check that did not apply): neither passed nor failed


_THRESHOLD = re.compile(r"^(?:(?P<model>[^/=]+)/)?(?P<attack_suite>[^:=/]+):(?P<eps>[^=]+)=(?P<minimum>.+)$")


def parse_threshold(text: str) -> Threshold:
    """Parse ``[model/]attack_suite:eps=minimum``, e.g. ``linf:0.1=0.80`` or ``digits-cnn/l2:0.5=0.6``."""
    match = _THRESHOLD.match(text.strip())
    if not match:
        raise ConfigError(
            f"Bad threshold {text!r}: write [model/]attack_suite:eps=minimum, e.g. linf:0.1=0.80 or linf:8/255=0.80."
        )
    try:
        eps = parse_eps(match["eps"].strip(), "the threshold's eps")
    except ConfigError as err:
        raise ConfigError(f"Bad threshold {text!r}: {err} (eps is written as for --eps)") from None
    try:
        minimum = float(match["minimum"])
    except ValueError:
        minimum = math.nan
    if not 0 <= minimum <= 1:
        raise ConfigError(
            f"Bad threshold {text!r}: the minimum is a robust accuracy in [0, 1], got {match['minimum']!r}."
        )
    return Threshold(match["model"], match["attack_suite"], eps, minimum, text.strip())


def _suite_bounds(results: Results, attack_suite: str) -> Any:
    """The bounds an attack suite (named, or by its norm) ran in: its own, the suite's, else the data's."""
    for config in results["suite"]["attack_suites"]:
        if attack_suite in (config["name"], config["norm"]) and config.get("bounds") is not None:
            return config["bounds"]
    return results["suite"].get("bounds") or results["data"]["bounds"]


def threshold_input_eps(results: Results, threshold: Threshold) -> float:
    """The threshold's eps in input units, for the bounds its attack suite ran in."""
    return in_input_units(threshold.eps, _suite_bounds(results, threshold.attack_suite))


def check_thresholds_fit(thresholds: list[Threshold], attack_suites: list[Any], models: list[str]) -> None:
    """Before a run: every threshold names an attack suite (or norm) and model of the run, and an eps of its
    grid when both are written alike (numbers, or fractions of the range); a :class:`ConfigError` if not."""
    for threshold in thresholds:
        if threshold.model is not None and threshold.model not in models:
            raise ConfigError(
                f"Threshold {threshold.text!r} names model {threshold.model!r}; the run's models are "
                f"{', '.join(models)}."
            )
        matching = [s for s in attack_suites if threshold.attack_suite in (s.name, s.norm)]
        if not matching:
            names = ", ".join(f"{s.name} ({s.norm})" for s in attack_suites)
            raise ConfigError(
                f"Threshold {threshold.text!r} names attack suite {threshold.attack_suite!r}; the run has {names}."
            )
        comparable = [
            e for s in matching for e in s.eps if isinstance(e, Fraction) == isinstance(threshold.eps, Fraction)
        ]
        if comparable and len(comparable) == sum(len(s.eps) for s in matching):
            if not any(math.isclose(float(e), float(threshold.eps), rel_tol=1e-9, abs_tol=1e-12) for e in comparable):
                grid = ", ".join(eps_label(e) for e in comparable)
                written = (
                    threshold.text.split(":", 1)[1].rsplit("=", 1)[0] if threshold.written else eps_label(threshold.eps)
                )
                raise ConfigError(
                    f"Threshold {threshold.text!r}: eps {written} is not in the grid of "
                    f"{threshold.attack_suite!r} ({grid}); give one of those, or add it with --eps."
                )


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
            eps = threshold_input_eps(results, threshold)
            row = _find(rows, model, threshold.attack_suite, eps)
            if row is None:
                grid = sorted({(r["attack_suite"], r["eps"]) for r in rows})
                raise ConfigError(
                    f"Threshold {threshold.text} ({eps:g} in input units) matches no result; the run has "
                    + ", ".join(f"{t}:{e:g}" for t, e in grid)
                    + "."
                )
            accuracy = row["robust_accuracy"]
            passed = accuracy >= threshold.minimum
            conditions.append(
                Condition(
                    "threshold",
                    f"{model} {row['attack_suite']} eps={eps_label(threshold.eps)} robust accuracy >= "
                    f"{threshold.minimum:.2%}",
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
    base_rows = _worst_rows(baseline)
    groups: dict[tuple[str, str], list[SummaryRow]] = {}
    for row in _worst_rows(results):
        groups.setdefault((row["model"], row["attack_suite"]), []).append(row)
    conditions = []
    for (model, attack_suite), rows in groups.items():
        ours = _fingerprint(results, model)
        same_weights = ours not in (None, "n/a") and ours == _fingerprint(baseline, model)
        pairs = [(row, base) for row in rows if (base := _find(base_rows, model, attack_suite, row["eps"]))]
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


def trust_check_conditions(results: Results, allowed: set[str]) -> list[Condition]:
    conditions = []
    for check in results.get("checks") or []:
        allowed_failure = check["status"] == "fail" and check["name"] in allowed
        passed = check["status"] != "fail" or allowed_failure
        note = " (failure allowed)" if allowed_failure else ""
        value = f": {check['value']}" if check["value"] else ""
        conditions.append(
            Condition(
                "check",
                f"{check['model']} trust check {check['name']}",
                passed,
                f"{check['status'].upper()}{note}{value}. {check['message']}",
                skipped=check["status"] == "n/a",
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
    skipped = sum(c.skipped for c in conditions)
    cases = []
    for c in conditions:
        if c.skipped:
            body = f"<skipped message={quoteattr(c.message)}/>"
        elif c.passed:
            body = ""
        else:
            body = f"<failure message={quoteattr(c.message)}>{escape(chr(10).join([c.message] + c.details))}</failure>"
        cases.append(f'  <testcase classname="robustkit.{c.kind}" name={quoteattr(c.name)}>{body}</testcase>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name={quoteattr("robustkit gate: " + suite)} tests="{len(conditions)}" '
        f'failures="{failures}" errors="0" skipped="{skipped}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )


def markdown_summary(conditions: list[Condition], results: Results, baseline_path: Any = None) -> str:
    failed = [c for c in conditions if not c.passed]
    verdict = "FAILED" if failed else "PASSED"
    lines = [f"## robustkit gate {verdict}: {results['suite']['name']}", ""]
    skipped = sum(c.skipped for c in conditions)
    lines.append(
        f"{len(conditions) - len(failed) - skipped} of {len(conditions) - skipped} conditions hold"
        + (f" ({skipped} checks did not apply)" if skipped else "")
        + (f"; baseline `{baseline_path}`" if baseline_path else "; no baseline")
        + "."
    )
    lines += ["", "| | condition | result |", "|---|---|---|"]
    for c in sorted(conditions, key=lambda c: c.passed):
        mark = "⏭️" if c.skipped else "✅" if c.passed else "❌"
        lines.append(f"| {mark} | {c.name} | {c.message.replace('|', '/')} |")
    return "\n".join(lines) + "\n"

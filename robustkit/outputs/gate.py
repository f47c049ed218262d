"""The robustness gate: thresholds, a statistical comparison with a baseline, and sanity checks.

``evaluate_gate`` turns a run's ``results.json`` into a list of :class:`Condition`; the build
passes when every condition does (:mod:`robustkit.outputs.conditions` renders them for CI systems).

A threshold bounds one of the :data:`MEASURES`, each declared once with the rows of the results
it reads: worst-case robust accuracy of an attack suite at an eps (an upper bound, from attacks),
certified accuracy of a certification suite at a radius (a lower bound, from certificates; the
best of the suite's smoothed classifiers), or verified accuracy of a verification suite at an eps
(a lower bound on the model's own robust accuracy, from proofs). Its level is written as ``--eps`` takes it: a number in
input units, or a fraction of the input range (``linf:8/255=0.9`` means 8 on [0, 255] data and
8/255 on [0, 1] data).

Example:
    >>> parse_threshold("linf:0.1=0.8")
    Threshold(model=None, attack_suite='linf', eps=0.1, minimum=0.8, measure='robust')
    >>> parse_threshold("l2:0.5=0.6", "certified").measure
    'certified'
    >>> parse_threshold("linf:0.05=0.8", "verified").measure
    'verified'
    >>> parse_threshold("linf:8/255=0.9").eps
    Fraction(8, 255)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from robustkit.errors import ConfigError
from robustkit.evaluation.results import Results
from robustkit.outputs.conditions import Condition
from robustkit.outputs.gate_baseline import baseline_conditions, worst_rows
from robustkit.outputs.gate_corruptions import check_corruption_threshold, corruption_gate_rows, written_as_level
from robustkit.ranges import Eps, as_fraction_of_range, eps_label, in_input_units, parse_eps


@dataclass(frozen=True)
class Threshold:
    model: str | None
    attack_suite: str  # an evaluation suite's name (attack or certification suite), or a norm
    eps: Eps  # the level: an attack's eps or a certificate's radius, in input units or a fraction of the range
    minimum: float
    written: str = field(default="", compare=False, repr=False)  # the threshold as the user wrote it
    measure: str = "robust"  # what it bounds: "robust" (attacked), "certified", "verified" or "corruption" accuracy

    @property
    def text(self) -> str:
        shown = f"{self.model + '/' if self.model else ''}{self.attack_suite}:{eps_label(self.eps)}={self.minimum:g}"
        return self.written or shown


@dataclass(frozen=True)
class Measure:
    """What a kind of threshold bounds, declared once: its results' rows and the suites it names."""

    title: str  # "robust accuracy"
    option: str  # the gate's command-line option
    suites: str  # the key of the suite config that lists the suites it can name
    noun: str  # what those suites are called
    level: str  # what the grid holds: "eps" or "radius"
    kind: str  # the suites' kind: "attack", "smoothing" or "verification"
    rows: Callable[[Results], list[dict]]  # per model, suite and level: value, low, high and what achieved it


def _gate_row(row: Any, suite: str, level: float, value: float, low: float, high: float, by: str = "") -> dict:
    """A results row as thresholds read it: model and norm, suite, level, the value with its 95% interval, and
    what achieved it (``by``, shown after the value)."""
    fields = {"suite": suite, "level": level, "value": value, "low": low, "high": high, "by": by}
    return {"model": row["model"], "norm": row["norm"], **fields}


def _robust_rows(results: Results) -> list[dict]:
    rows = []
    for r in worst_rows(results):
        low, high = r["robust_accuracy_low"], r["robust_accuracy_high"]
        rows.append(_gate_row(r, r["attack_suite"], r["eps"], r["robust_accuracy"], low, high))
    return rows


def _certified_rows(results: Results) -> list[dict]:
    """Per model, certification suite and radius: the best sigma's certified accuracy (each sigma is its own
    smoothed classifier; a threshold holds when one of them meets it, and the condition names it)."""
    best: dict[tuple, dict] = {}
    for r in results.get("certified", []):
        key = (r["model"], r["certification_suite"], r["radius"])
        if key not in best or r["certified_accuracy"] > best[key]["value"]:
            low, high = r["certified_accuracy_low"], r["certified_accuracy_high"]
            by = f" (sigma {r['sigma']:g})"
            best[key] = _gate_row(r, r["certification_suite"], r["radius"], r["certified_accuracy"], low, high, by)
    return list(best.values())


def _verified_rows(results: Results) -> list[dict]:
    """Per model, verification suite and eps: the best proved accuracy (by the bounds, or also exactly)."""
    best: dict[tuple, dict] = {}
    for r in results["summary"]:
        if r.get("bound") != "lower":
            continue
        key = (r["model"], r["attack_suite"], r["eps"])
        if key not in best or r["robust_accuracy"] > best[key]["value"]:
            low, high = r["robust_accuracy_low"], r["robust_accuracy_high"]
            by = f" ({r['attack']})"
            best[key] = _gate_row(r, r["attack_suite"], r["eps"], r["robust_accuracy"], low, high, by)
    return list(best.values())


MEASURES = {
    "robust": Measure(
        "robust accuracy", "--min-robust-accuracy", "attack_suites", "attack suite", "eps", "attack", _robust_rows
    ),
    "certified": Measure(
        "certified accuracy",
        "--min-certified-accuracy",
        "certification_suites",
        "certification suite",
        "radius",
        "smoothing",
        _certified_rows,
    ),
    "verified": Measure(
        "verified accuracy",
        "--min-verified-accuracy",
        "verification_suites",
        "verification suite",
        "eps",
        "verification",
        _verified_rows,
    ),
    "corruption": Measure(
        "corruption accuracy",
        "--min-corruption-accuracy",
        "corruption_suites",
        "corruption suite",
        "severity",
        "corruption",
        corruption_gate_rows,
    ),
}


_THRESHOLD = re.compile(r"^(?:(?P<model>[^/=]+)/)?(?P<attack_suite>[^:=/]+):(?P<eps>[^=]+)=(?P<minimum>.+)$")


def parse_threshold(text: str, measure: str = "robust") -> Threshold:
    """Parse ``[model/]suite:level=minimum``, e.g. ``linf:0.1=0.80``, ``digits-cnn/l2:0.5=0.6``, or
    (``measure="certified"``) ``l2:0.5=0.6``: certified accuracy at L2 radius 0.5.

    Args:
        text: the threshold as written on the command line or in ``[gate]``.
        measure: which of :data:`MEASURES` it bounds: ``"robust"``, ``"certified"``, ``"verified"`` or
            ``"corruption"``.
    """
    title = MEASURES[measure].title
    level = MEASURES[measure].level
    if measure == "corruption":
        text = written_as_level(text)
    match = _THRESHOLD.match(text.strip())
    if not match:
        raise ConfigError(
            f"Bad threshold {text!r}: write [model/]suite:{level}=minimum, e.g. linf:0.1=0.80 or l2:0.5=0.60."
        )
    try:
        eps = parse_eps(match["eps"].strip(), f"the threshold's {level}")
    except ConfigError as err:
        raise ConfigError(f"Bad threshold {text!r}: {err} ({level} is written as for --eps)") from None
    try:
        minimum = float(match["minimum"])
    except ValueError:
        minimum = math.nan
    if not 0 <= minimum <= 1:
        raise ConfigError(f"Bad threshold {text!r}: the minimum is a {title} in [0, 1], got {match['minimum']!r}.")
    return Threshold(match["model"], match["attack_suite"], eps, minimum, text.strip(), measure)


def _suite_bounds(results: Results, threshold: Threshold) -> Any:
    """The bounds a threshold's suite (named, or by its norm) ran in: its own, the benchmark's, else the data's."""
    for config in results["suite"].get(MEASURES[threshold.measure].suites, []):  # type: ignore[attr-defined]
        if threshold.attack_suite in (config["name"], config["norm"]) and config.get("bounds") is not None:
            return config["bounds"]
    return results["suite"].get("bounds") or results["data"]["bounds"]


def threshold_input_eps(results: Results, threshold: Threshold) -> float:
    """The threshold's level (eps or radius) in input units, for the bounds its suite ran in (a severity as is)."""
    if threshold.measure == "corruption":
        return float(threshold.eps)
    return in_input_units(threshold.eps, _suite_bounds(results, threshold))


def _grid(suite: Any) -> tuple:
    grid = tuple(getattr(suite, "eps", None) or getattr(suite, "radius", None) or ())
    if getattr(suite, "in_range", False):  # a grid written as fractions of the input range
        return tuple(as_fraction_of_range(level) for level in grid)
    return grid


def check_thresholds_fit(thresholds: list[Threshold], suites: list[Any], models: list[str]) -> None:
    """Before a run: every threshold names a suite (or norm) of its kind and a model of the run, and a level of
    its grid when both are written alike (numbers, or fractions of the range); a :class:`ConfigError` if not.
    ``suites``: the run's attack, certification and verification suites."""
    for threshold in thresholds:
        measure = MEASURES[threshold.measure]
        if threshold.model is not None and threshold.model not in models:
            raise ConfigError(
                f"Threshold {threshold.text!r} names model {threshold.model!r}; the run's models are "
                f"{', '.join(models)}."
            )
        if measure.kind == "corruption":
            check_corruption_threshold(threshold, suites)
            continue
        of_kind = [s for s in suites if getattr(s, "kind", "attack") == measure.kind]
        matching = [s for s in of_kind if threshold.attack_suite in (s.name, s.norm)]
        if not matching:
            names = ", ".join(f"{s.name} ({s.norm})" for s in of_kind) or f"no {measure.noun}"
            raise ConfigError(
                f"Threshold {measure.option} {threshold.text!r} names {measure.noun} {threshold.attack_suite!r}; "
                f"the run has {names}."
            )
        comparable = [
            e for s in matching for e in _grid(s) if isinstance(e, Fraction) == isinstance(threshold.eps, Fraction)
        ]
        if comparable and len(comparable) == sum(len(_grid(s)) for s in matching):
            if not any(math.isclose(float(e), float(threshold.eps), rel_tol=1e-9, abs_tol=1e-12) for e in comparable):
                grid = ", ".join(eps_label(e) for e in comparable)
                written = (
                    threshold.text.split(":", 1)[1].rsplit("=", 1)[0] if threshold.written else eps_label(threshold.eps)
                )
                raise ConfigError(
                    f"Threshold {threshold.text!r}: {measure.level} {written} is not in the grid of "
                    f"{threshold.attack_suite!r} ({grid}); give one of those"
                    + (", or add it with --eps." if measure.level == "eps" else ".")
                )


def _row(rows: list[dict], model: str, suite: str, level: float) -> dict | None:
    for row in rows:
        close = math.isclose(row["level"], level, rel_tol=1e-9, abs_tol=1e-12)
        if row["model"] == model and suite in (row["suite"], row["norm"]) and close:
            return row
    return None


def _level_text(measure: Measure, threshold: Threshold) -> str:
    if measure.kind == "corruption" and float(threshold.eps) == 0:
        return "every severity"
    return f"{measure.level}={eps_label(threshold.eps)}"


def threshold_conditions(results: Results, thresholds: list[Threshold]) -> list[Condition]:
    models = list(results["models"])
    conditions = []
    for threshold in thresholds:
        measure = MEASURES[threshold.measure]
        rows = measure.rows(results)
        for model in [threshold.model] if threshold.model else models:
            if model not in models:
                raise ConfigError(
                    f"Threshold names model {model!r}, which the run does not have ({', '.join(models)})."
                )
            level = threshold_input_eps(results, threshold)
            row = _row(rows, model, threshold.attack_suite, level)
            if row is None:
                grid = sorted({(r["suite"], r["level"]) for r in rows})
                raise ConfigError(
                    f"Threshold {measure.option} {threshold.text} ({level:g} in input units) matches no result; the "
                    "run has " + (", ".join(f"{t}:{e:g}" for t, e in grid) or "none") + "."
                )
            passed = row["value"] >= threshold.minimum
            conditions.append(
                Condition(
                    "threshold",
                    f"{model} {row['suite']} {_level_text(measure, threshold)} {measure.title} >= "
                    f"{threshold.minimum:.2%}",
                    passed,
                    f"{measure.title} {row['value']:.2%}{row['by']} (95% interval {row['low']:.2%}-{row['high']:.2%}) "
                    f"{'>=' if passed else '<'} {threshold.minimum:.2%}",
                )
            )
    return conditions


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
    """Every condition of the gate for one run.

    Args:
        results: the run's results (:func:`~robustkit.evaluation.results.read_results`).
        baseline: an earlier run of the same data to compare with (``None``: no comparison).
        thresholds: minimums of the measures (:func:`parse_threshold`).
        confidence: the z-test's confidence that robust accuracy moved from the baseline's.
        tolerance: instead of the test, the largest change in robust accuracy that passes.
        allowed_checks: names of trust checks whose failure does not fail the gate.
    """
    conditions = threshold_conditions(results, thresholds or [])
    if baseline is not None:
        conditions += baseline_conditions(results, baseline, confidence, tolerance)
    conditions += trust_check_conditions(results, allowed_checks or set())
    return conditions

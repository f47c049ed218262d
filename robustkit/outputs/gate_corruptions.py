"""Gate thresholds on corruption accuracy: ``gaussian_noise:3=0.80`` (one corruption at one
severity), ``gaussian_noise=0.80`` (its mean over the severities), ``mean:3=0.80`` (the benchmark's
corruptions at severity 3) and ``mean=0.75`` (the mean corruption accuracy); each may name a model
first (``digits-cnn/mean=0.75``). A level of 0 stands for "every severity".

Example:
    >>> written_as_level("mean=0.75"), written_as_level("digits-cnn/fog:2=0.5")
    ('mean:0=0.75', 'digits-cnn/fog:2=0.5')
"""

from __future__ import annotations

from typing import Any

from robustkit.errors import ConfigError
from robustkit.evaluation.corrupted import MEASURED
from robustkit.evaluation.results import Results
from robustkit.stats import wilson_interval

MEAN = "mean"  # the benchmark's corruptions together
EVERY_SEVERITY = 0  # the level of a threshold on the mean over severities


def written_as_level(text: str) -> str:
    """A corruption threshold with its level written out (``0`` where it names none)."""
    left, sep, minimum = text.strip().rpartition("=")
    if sep and ":" not in left:
        return f"{left}:{EVERY_SEVERITY}={minimum}"
    return text.strip()


def _pooled(model: str, norm: str, suite: str, level: int, cells: list[Any]) -> dict:
    """A gate row of the pooled accuracy of ``cells`` (the same examples under several corruptions)."""
    k = sum(round(c["robust_accuracy"] * c["n"]) for c in cells)
    n = sum(c["n"] for c in cells)
    low, high = wilson_interval(k, n)
    value = k / n if n else float("nan")
    return {"model": model, "norm": norm, "suite": suite, "level": float(level), "value": value, "low": low,
            "high": high, "by": ""}  # fmt: skip


def corruption_gate_rows(results: Results) -> list[dict]:
    """Per model and corruption suite: each corruption at each severity and over them, and the mean of the
    benchmark's corruptions (the held-out ones left out) at each severity and over them."""
    rows = []
    cells = [r for r in results["summary"] if r.get("bound") == MEASURED]
    for suite in results["suite"].get("corruption_suites", []):
        counted = [c for c in suite["corruptions"] if c not in suite["held_out"]]
        for model in results["models"]:
            own = [r for r in cells if r["model"] == model and r["attack_suite"] == suite["name"]]
            for corruption in suite["corruptions"]:
                mine = [r for r in own if r["corruption"] == corruption]
                rows += [_pooled(model, suite["name"], corruption, r["severity"], [r]) for r in mine]
                rows.append(_pooled(model, suite["name"], corruption, EVERY_SEVERITY, mine))
            scored = [r for r in own if r["corruption"] in counted]
            for severity in suite["severities"]:
                rows.append(
                    _pooled(model, suite["name"], MEAN, severity, [r for r in scored if r["severity"] == severity])
                )
            rows.append(_pooled(model, suite["name"], MEAN, EVERY_SEVERITY, scored))
    return rows


def check_corruption_threshold(threshold: Any, suites: list[Any]) -> None:
    """Before a run: the threshold names a corruption of one of the run's corruption suites (or ``mean``) and a
    severity of it (or none); a :class:`ConfigError` that says what the run has if not."""
    of_kind = [s for s in suites if getattr(s, "kind", "") == "corruption"]
    if not of_kind:
        raise ConfigError(f"Threshold --min-corruption-accuracy {threshold.text!r}: the run has no corruption suite.")
    names = {MEAN} | {c for s in of_kind for c in s.corruptions}
    if threshold.attack_suite not in names:
        raise ConfigError(
            f"Threshold --min-corruption-accuracy {threshold.text!r} names corruption {threshold.attack_suite!r}; "
            f"the run has {', '.join(sorted(names))}."
        )
    severities = {EVERY_SEVERITY} | {s for suite in of_kind for s in suite.severities}
    if float(threshold.eps) not in severities:
        raise ConfigError(
            f"Threshold {threshold.text!r}: severity {float(threshold.eps):g} is not one the run has "
            f"({', '.join(str(s) for s in sorted(severities - {EVERY_SEVERITY}))}); leave it out for all of them."
        )

"""Corruption suites as data (``attacks/*.toml`` with a ``[corruptions]`` table): accuracy on
commonly corrupted inputs, per corruption and severity.

A corruption suite names the corruptions (:mod:`robustkit.corruptions`) and severities to apply to
the test data, and the model whose errors the corruption error (CE) is measured against::

    name = "corruptions"
    bounds = [0.0, 1.0]                  # optional: the range the data lie in (default: the data's)

    [corruptions]
    names = "benchmark"                  # "benchmark" (15 less those not provided), "held-out", "all", or a list
    severities = [1, 2, 3, 4, 5]
    baseline = "digits-mlp"              # mCE is each model's errors over this model's (optional)
    constants = "auto"                   # "small" (32x32), "large" (224x224) or by image size
    batch_size = 1000                    # images corrupted at a time

A benchmark suite lists it among its evaluation suites (``attacks = ["linf", "corruptions"]``); the
report puts each model's corruption accuracy beside its robust accuracy.

Example:
    >>> from robustkit.evaluation.verification_suites import load_evaluation_suite
    >>> suite = load_evaluation_suite("corruptions")
    >>> suite.kind, len(suite.corruptions), suite.severities, suite.baseline
    ('corruption', 18, (1, 2, 3, 4, 5), 'digits-mlp')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustkit.corruptions.registry import BENCHMARK, CORRUPTIONS, HELD_OUT, SEVERITIES, UNAVAILABLE
from robustkit.evaluation.results import CorruptionSuiteConfig
from robustkit.evaluation.suite_files import bad_value, bounds_value, integer_value, reject_unknown_keys

CORRUPTION_SUITE_KEYS = {
    "name": "the suite's name",
    "description": "free text",
    "bounds": "[lower, upper] the data lie in (the corruptions work in [0, 1] and map back)",
    "corruptions": "a table: names, severities, baseline, constants, batch_size",
}
CORRUPTIONS_KEYS = {
    "names": "'benchmark', 'held-out', 'all', or a list of corruption names",
    "severities": "a list of severities from 1 to 5 (default all five)",
    "baseline": "the model (a spec of the run's models) whose errors mCE divides by (default: none)",
    "constants": "'auto' (by the image's shorter side), 'small' (32x32) or 'large' (224x224)",
    "batch_size": "images corrupted at a time (integer >= 1, default 1000)",
}
NAMED_SETS = {"benchmark": BENCHMARK, "held-out": HELD_OUT, "all": tuple(CORRUPTIONS)}


@dataclass(frozen=True)
class CorruptionSuite:
    """Accuracy under each of ``corruptions`` at each of ``severities``."""

    name: str
    corruptions: tuple[str, ...]
    severities: tuple[int, ...] = SEVERITIES
    baseline: str | None = None
    constants: str = "auto"
    batch_size: int = 1000
    bounds: tuple[Any, Any] | None = None
    description: str = ""
    path: str = ""
    kind: str = "corruption"
    norm: str = "corruption"  # what thresholds and tables call the suite's "norm"

    def config(self) -> CorruptionSuiteConfig:
        return {
            "name": self.name,
            "kind": self.kind,
            "corruptions": list(self.corruptions),
            "held_out": [c for c in self.corruptions if CORRUPTIONS[c].held_out],
            "severities": list(self.severities),
            "baseline": self.baseline,
            "constants": self.constants,
            "batch_size": self.batch_size,
            "bounds": None if self.bounds is None else [self.bounds[0], self.bounds[1]],
        }

    def cell_key(self, corruption: str, severity: int) -> dict:
        """What one corruption's predictions depend on (the batch size does not change them)."""
        return {"kind": self.kind, "corruption": corruption, "severity": severity, "constants": self.constants}


def _names(path: Path, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and value in NAMED_SETS:
        return tuple(NAMED_SETS[value])
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise bad_value(path, "[corruptions]", "names", value, CORRUPTIONS_KEYS["names"])
    for name in value:
        if name in UNAVAILABLE:
            raise bad_value(path, "[corruptions]", "names", name, f"a provided corruption: {name} {UNAVAILABLE[name]}")
        if name not in CORRUPTIONS:
            raise bad_value(path, "[corruptions]", "names", name, "one of " + ", ".join(CORRUPTIONS))
    if len(set(value)) != len(value):
        raise bad_value(path, "[corruptions]", "names", value, "names without repeats")
    return tuple(value)


def _severities(path: Path, value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and value and all(type(v) is int and v in SEVERITIES for v in value)
    if not ok or len(set(value)) != len(value):
        raise bad_value(path, "[corruptions]", "severities", value, CORRUPTIONS_KEYS["severities"])
    return tuple(sorted(value))


def load_corruption_suite(path: Path, data: dict) -> CorruptionSuite:
    """A corruption suite from a suite file's parsed TOML (see the module docstring)."""
    reject_unknown_keys(path, data, CORRUPTION_SUITE_KEYS, "the top level")
    table = data["corruptions"]
    if not isinstance(table, dict):
        raise bad_value(path, "top-level", "corruptions", table, CORRUPTION_SUITE_KEYS["corruptions"])
    reject_unknown_keys(path, table, CORRUPTIONS_KEYS, "[corruptions]")
    constants = table.get("constants", "auto")
    if constants not in ("auto", "small", "large"):
        raise bad_value(path, "[corruptions]", "constants", constants, CORRUPTIONS_KEYS["constants"])
    baseline = table.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise bad_value(path, "[corruptions]", "baseline", baseline, CORRUPTIONS_KEYS["baseline"])
    return CorruptionSuite(
        str(data.get("name", path.stem)),
        _names(path, table.get("names", "benchmark")),
        _severities(path, table.get("severities", list(SEVERITIES))),
        baseline,
        str(constants),
        integer_value(path, "[corruptions]", "batch_size", table.get("batch_size", 1000), 1),
        bounds_value(path, data.get("bounds"), CORRUPTION_SUITE_KEYS["bounds"]),
        str(data.get("description", "")),
        str(path),
    )

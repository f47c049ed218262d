"""Benchmark suites as data (``benchmarks/*.toml``): models x data x attack suites, and run settings.

A benchmark suite names models, data and attack suites (:mod:`robustkit.evaluation.attack_suites`)::

    name = "default"
    data = "digits"
    models = ["digits-mlp", "digits-cnn"]
    attacks = ["linf", "l2"]
    seed = 0

Unknown keys and bad values raise :class:`ConfigError` naming the file, the key and what is
allowed.

Example:
    >>> suite = load_benchmark_suite("default")
    >>> suite.name
    'default'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustkit.constraints import SCALES, FeatureSpec
from robustkit.errors import ConfigError
from robustkit.evaluation.attack_suites import AttackSpec, AttackSuite, load_attack_suite
from robustkit.evaluation.certification_suites import CertificationSuite
from robustkit.evaluation.corruption_suites import CorruptionSuite
from robustkit.evaluation.results import SuiteConfig
from robustkit.evaluation.suite_files import (
    bad_value,
    bounds_value,
    find_file,
    integer_value,
    read_toml,
    reject_unknown_keys,
    string_list,
)
from robustkit.evaluation.verification_suites import VerificationSuite, load_evaluation_suite, split_suites
from robustkit.ranges import bounds_to_json
from robustkit.sources.classes import checked_names

__all__ = [
    "AttackSpec",
    "AttackSuite",
    "BenchmarkSuite",
    "CertificationSuite",
    "VerificationSuite",
    "load_attack_suite",
    "load_benchmark_suite",
    "load_evaluation_suite",
]

DEFAULT_SHARD_SIZE = 65_536
BENCH_KEYS = {
    "name": "the suite's name (its report goes to reports/<name>/)",
    "description": "free text",
    "data": "'digits', an .npz file, an image folder, a .csv/.parquet table, module:function, tfds:NAME or keras:NAME",
    "limit": "use only the first N test examples (integer >= 1)",
    "models": "a list of zoo names, .keras paths, SavedModel folders or module:function factories",
    "attacks": "a list of evaluation suites (files in attacks/, or paths): attack suites and certification suites",
    "seed": "integer >= 0",
    "batch_size": "integer >= 1",
    "gate": "a table of gate settings",
    "checks": "true or false: run the trust checks (default true)",
    "shard_size": "examples in memory at a time (integer >= 1, default 65536): larger data is evaluated in shards",
    "bounds": "[lower, upper] the model reads, for every attack suite (each a number, per channel or per feature)",
    "class_names": "the models' class names in their order: the data's labels are renumbered to it by name",
    "eps_scale": "'std', 'range' or one number per feature: feature i moves by eps times its scale",
    "immutable": "features that never move: column names of a table, or flat indices",
    "integer": "features whose adversarial values are integers: column names, or flat indices",
    "one_hot": "groups of features that encode one category each: a list of lists of names or indices",
}


@dataclass
class BenchmarkSuite:
    """Models x data x attack suites, plus run settings."""

    name: str
    data: str
    models: list[str]
    attack_suites: list[AttackSuite]
    seed: int = 0
    limit: int | None = None
    batch_size: int = 512
    description: str = ""
    gate: dict = field(default_factory=dict)
    path: str = ""
    checks: bool = True
    bounds: tuple[Any, Any] | None = None  # the bounds the models read, for every attack suite
    shard_size: int = DEFAULT_SHARD_SIZE  # examples in memory at a time; larger data is evaluated shard by shard
    class_names: tuple[str, ...] | None = None  # the models' classes in order (the data's labels follow, by name)
    features: FeatureSpec = field(default_factory=FeatureSpec)  # constraints on the features, by name or index
    certification_suites: list[CertificationSuite] = field(default_factory=list)  # guarantees beside the attacks
    verification_suites: list[VerificationSuite] = field(default_factory=list)  # proofs for the model itself
    corruption_suites: list[CorruptionSuite] = field(default_factory=list)  # accuracy under common corruptions

    def config(self) -> SuiteConfig:
        config: SuiteConfig = {
            "name": self.name,
            "data": self.data,
            "limit": self.limit,
            "models": list(self.models),
            "attack_suites": [t.config() for t in self.attack_suites],
            "seed": self.seed,
            "batch_size": self.batch_size,
            "checks": self.checks,
        }
        if self.bounds is not None:
            config["bounds"] = bounds_to_json(self.bounds)
        if self.class_names is not None:
            config["class_names"] = list(self.class_names)
        if self.features:
            config["features"] = self.features.config()
        if self.certification_suites:
            config["certification_suites"] = [s.config() for s in self.certification_suites]
        if self.verification_suites:
            config["verification_suites"] = [s.config() for s in self.verification_suites]
        if self.corruption_suites:
            config["corruption_suites"] = [s.config() for s in self.corruption_suites]
        return config


GATE_KEYS = {
    "min_robust_accuracy": 'a table of "[model/]attack_suite:eps" = minimum worst-case robust accuracy in [0, 1]',
    "min_certified_accuracy": 'a table of "[model/]certification_suite:radius" = minimum certified accuracy in [0, 1]',
    "min_verified_accuracy": 'a table of "[model/]verification_suite:eps" = minimum verified accuracy in [0, 1]',
    "min_corruption_accuracy": 'a table of "[model/]corruption:severity" (or "mean") = minimum accuracy in [0, 1]',
    "tolerance": "largest allowed drop in robust accuracy against the baseline, in [0, 1] (instead of the test)",
    "confidence": "confidence of the regression test against the baseline, in (0.5, 1)",
    "allow_checks": "a list of trust-check names whose failure does not fail the gate",
    "baseline": "path of the baseline results.json",
}


def _gate_table(path: Path, gate: dict) -> dict:
    reject_unknown_keys(path, gate, GATE_KEYS, "[gate]")
    for table in ("min_robust_accuracy", "min_certified_accuracy", "min_verified_accuracy", "min_corruption_accuracy"):
        minimums = gate.get(table, {})
        if not isinstance(minimums, dict):
            raise bad_value(path, "[gate]", table, minimums, GATE_KEYS[table])
        for key, value in minimums.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise bad_value(path, f"[gate] {table}", key, value, "a number in [0, 1]")
    for key, low, high in (("tolerance", 0.0, 1.0), ("confidence", 0.5, 1.0)):
        value = gate.get(key)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value < high + (key == "tolerance")
        ):
            raise bad_value(path, "[gate]", key, value, GATE_KEYS[key])
    allow = gate.get("allow_checks", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise bad_value(path, "[gate]", "allow_checks", allow, GATE_KEYS["allow_checks"])
    return dict(gate)


def load_benchmark_suite(name_or_path: str) -> BenchmarkSuite:
    """Load and validate a benchmark suite, with its attack suites."""
    path = find_file(name_or_path, "benchmarks")
    data = read_toml(path)
    reject_unknown_keys(path, data, BENCH_KEYS, "the top level")
    models = string_list(path, "models", data.get("models"))
    attacks = string_list(path, "attacks", data.get("attacks"))
    data_spec = data.get("data", "digits")
    if not isinstance(data_spec, str):
        raise bad_value(path, "top-level", "data", data_spec, BENCH_KEYS["data"])
    limit = data.get("limit")
    if limit is not None:
        limit = integer_value(path, "top-level", "limit", limit, 1)
    seed = integer_value(path, "top-level", "seed", data.get("seed", 0), 0)
    batch_size = integer_value(path, "top-level", "batch_size", data.get("batch_size", 512), 1)
    gate = data.get("gate", {})
    if not isinstance(gate, dict):
        raise bad_value(path, "top-level", "gate", gate, "a table")
    checks = data.get("checks", True)
    if not isinstance(checks, bool):
        raise bad_value(path, "top-level", "checks", checks, "true or false")
    loaded = []
    for attack in attacks:
        try:
            loaded.append(load_evaluation_suite(attack))
        except ConfigError as err:
            raise ConfigError(f"{path}: in attacks = [... {attack!r} ...]: {err}") from None
    try:
        attack_suites, certification_suites, verification_suites, corruption_suites = split_suites(loaded)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return BenchmarkSuite(
        str(data.get("name", path.stem)),
        data_spec,
        models,
        attack_suites,
        seed,
        limit,
        batch_size,
        str(data.get("description", "")),
        _gate_table(path, gate),
        str(path),
        checks,
        bounds_value(path, data.get("bounds"), BENCH_KEYS["bounds"]),
        integer_value(path, "top-level", "shard_size", data.get("shard_size", DEFAULT_SHARD_SIZE), 1),
        _class_names(path, data.get("class_names")),
        _feature_spec(path, data),
        certification_suites,
        verification_suites,
        corruption_suites,
    )


def _feature_spec(path: Path, data: dict) -> FeatureSpec:
    """The feature constraints of a benchmark suite file (``eps_scale``, ``immutable``, ``integer``, ``one_hot``)."""

    def features(key: str, value: Any) -> tuple:
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise bad_value(path, "top-level", key, value, BENCH_KEYS[key])
        return tuple(value)

    scale = data.get("eps_scale")
    if isinstance(scale, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale):
        scale = tuple(float(v) for v in scale)
    elif scale is not None and scale not in SCALES:
        raise bad_value(path, "top-level", "eps_scale", scale, BENCH_KEYS["eps_scale"])
    groups = data.get("one_hot", [])
    if not isinstance(groups, list):
        raise bad_value(path, "top-level", "one_hot", groups, BENCH_KEYS["one_hot"])
    return FeatureSpec(
        scale,
        features("immutable", data.get("immutable", [])),
        features("integer", data.get("integer", [])),
        tuple(features("one_hot", group) for group in groups),
    )


def _class_names(path: Path, names: Any) -> tuple[str, ...] | None:
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_value(path, "top-level", "class_names", names, BENCH_KEYS["class_names"])
    try:
        return tuple(checked_names(names))
    except ConfigError as err:
        raise bad_value(path, "top-level", "class_names", names, str(err)) from None

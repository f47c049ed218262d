"""Suites as data: attack suites (``attacks/*.toml``) and benchmark suites (``benchmarks/*.toml``).

An attack suite declares one threat model (a norm, an epsilon grid, optional bounds) and the
attacks to run in it::

    name = "linf"
    norm = "linf"
    eps = [0.01, 0.02, 0.05, 0.1]

    [[attack]]
    name = "pgd-20"
    type = "pgd"
    steps = 20
    rel_step_size = 0.125   # step = 0.125 * eps

A benchmark suite names models, data and attack suites::

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

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from robustkit.attacks.registry import ATTACKS
from robustkit.constraints import SCALES, Constraints, FeatureSpec
from robustkit.errors import ConfigError
from robustkit.evaluation.results import AttackSuiteConfig, SuiteConfig
from robustkit.evaluation.suite_files import (
    bad_value,
    find_file,
    integer_value,
    positive_value,
    read_toml,
    reject_unknown_keys,
    string_list,
)
from robustkit.inputs import validate_bounds
from robustkit.losses import LOSSES
from robustkit.norms import NORMS
from robustkit.ranges import Eps, as_fraction_of_range, bounds_to_json, eps_label, in_input_units, parse_eps
from robustkit.sources.classes import checked_names

ATTACK_TYPES = tuple(ATTACKS)
DEFAULT_SHARD_SIZE = 65_536
# What each attack type declares (robustkit.attacks: its class's signature and attributes), by type name:
DEFAULT_STEPS = {kind: attack.default_budget() for kind, attack in ATTACKS.items()}  # steps, or queries
DEFAULT_LOSS = {kind: attack.default_loss() for kind, attack in ATTACKS.items()}
RANDOM_START_ONLY = tuple(kind for kind, attack in ATTACKS.items() if attack.chooses_start)
OWN_LOSS = {kind: attack.own_loss for kind, attack in ATTACKS.items() if attack.own_loss is not None}
ATTACK_KEYS = {
    "name": "a short name shown in reports",
    "type": "one of " + ", ".join(ATTACKS),
    "steps": "integer >= 1; defaults: "
    + ", ".join(f"{k} {a.default_budget()} {a.budget}" for k, a in ATTACKS.items() if a.budget is not None),
    "step_size": "absolute step size > 0",
    "rel_step_size": "step size as a multiple of eps, > 0",
    "random_start": "true or false (fgsm, pgd; apgd always starts at random)",
    "restarts": "integer >= 1 (pgd, apgd)",
    "loss": "one of " + ", ".join(LOSSES),
    "sparsity": "fraction of coordinates an L1 step moves, in (0, 1]",
    "n_targets": "integer >= 1: how many other classes "
    + " and ".join(k for k, a in ATTACKS.items() if a.accepts("n_targets"))
    + " steer towards (default 9)",
    "straight_through": "true: rounding and integer casts in the model get an identity gradient (BPDA)",
}
ATTACK_SUITE_KEYS = {
    "name": "the attack suite's name (reports show it)",
    "description": "free text",
    "norm": "one of " + ", ".join(NORMS),
    "eps": 'a list of numbers >= 0 (input units) or fractions of the input range like "8/255"',
    "bounds": "[lower, upper]: each a number, one value per channel, or one per feature",
    "headline_eps": "the eps the report's summary shows (one of eps; default: the middle of the grid)",
    "eps_unit": "'input' (default: eps in the inputs' units) or 'range' (every eps a fraction of the input range)",
    "chain": "true: each attack attacks only the examples every earlier one left robust (AutoAttack's order)",
    "attack": "an array of [[attack]] tables",
}
BENCH_KEYS = {
    "name": "the suite's name (its report goes to reports/<name>/)",
    "description": "free text",
    "data": "'digits', an .npz file, an image folder, a .csv/.parquet table, module:function, tfds:NAME or keras:NAME",
    "limit": "use only the first N test examples (integer >= 1)",
    "models": "a list of zoo names, .keras paths, SavedModel folders or module:function factories",
    "attacks": "a list of attack suite names (files in attacks/) or paths",
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


@dataclass(frozen=True)
class AttackSpec:
    """One attack of an attack suite, before eps is chosen."""

    name: str
    type: str
    norm: str
    steps: int = 1
    step_size: float | None = None
    rel_step_size: float | None = None
    random_start: bool = False
    restarts: int = 1
    loss: str = "ce"
    sparsity: float | None = None
    n_targets: int | None = None
    straight_through: bool = False
    extra: tuple[tuple[str, Any], ...] = ()  # settings of this attack type's own (its class's signature)

    @property
    def loss_used(self) -> str:
        """The loss this attack climbs: its own (apgd-t, fab) or the one the suite gives it."""
        return OWN_LOSS.get(self.type, self.loss)

    def settings(self, eps: float) -> dict:
        """The attack's settings at one eps, for :func:`robustkit.attacks.build_attack` (the runner builds it):
        those its class takes (:meth:`robustkit.attacks.GradientAttack.parameters`)."""
        attack = ATTACKS[self.type]
        step = (
            self.step_size
            if self.step_size is not None
            else (None if self.rel_step_size is None else self.rel_step_size * eps)
        )
        if eps == 0:
            step = None  # any step is projected back to x
        settings: dict = dict(eps=eps, norm=self.norm)
        given = {
            "step_size": step,
            "loss": None if attack.own_loss else self.loss,
            "n_targets": self.n_targets,
            "straight_through": self.straight_through or None,
            "random_start": None if attack.chooses_start else self.random_start,
            "restarts": None if attack.budget is None else self.restarts,
        }
        if attack.budget is not None:
            given[attack.budget] = self.steps
        settings.update({k: v for k, v in given.items() if attack.accepts(k) and (v is not None or k == "step_size")})
        if self.norm == "l1" and self.sparsity:
            settings["sparsity"] = self.sparsity
        settings.update(dict(self.extra))
        return settings

    def config(self) -> dict:
        # straight_through and extra appear only when set: suites written before them keep their cell keys
        return {
            k: (dict(v) if k == "extra" else v)
            for k, v in self.__dict__.items()
            if v is not None and not (k in ("straight_through", "extra") and not v)
        }


@dataclass(frozen=True)
class AttackSuite:
    """An attack suite: one threat model (a norm, an eps grid, bounds) and the attacks to run in it."""

    name: str
    norm: str
    eps: tuple[Eps, ...]
    attacks: tuple[AttackSpec, ...]
    bounds: tuple[Any, Any] | None = None
    description: str = ""
    path: str = ""
    eps_written: tuple[str, ...] = ()
    headline_eps: Eps | None = None
    chain: bool = False  # each attack only on what the earlier ones left robust; rows are cumulative
    constraints: Constraints | None = None  # per-feature eps, immutable, integer, one-hot (resolved on the data)

    def resolved(self, bounds: Any) -> AttackSuite:
        """This suite with every eps in input units, for inputs in ``bounds`` (fractions of the range scaled).

        Example:
            >>> linf = AttackSuite("linf", "linf", (Fraction(8, 255), Fraction(2, 255)), ())
            >>> linf.resolved((0.0, 255.0)).eps, linf.resolved((0.0, 255.0)).eps_written
            ((2.0, 8.0), ('2/255', '8/255'))
        """
        if not any(isinstance(e, Fraction) for e in self.eps):
            return self
        ordered = sorted((in_input_units(e, bounds), eps_label(e)) for e in self.eps)
        headline = None if self.headline_eps is None else in_input_units(self.headline_eps, bounds)
        return replace(
            self,
            eps=tuple(e for e, _ in ordered),
            eps_written=tuple(w for _, w in ordered),
            headline_eps=headline,
        )

    @property
    def input_eps(self) -> tuple[float, ...]:
        """The eps grid in input units; only defined once fractions of the range are :meth:`resolved`."""
        if any(isinstance(e, Fraction) for e in self.eps):
            raise ConfigError(
                f"Attack suite {self.name!r} writes eps as fractions of the range; they need the bounds: "
                "call .resolved(bounds) first."
            )
        return tuple(float(e) for e in self.eps)

    def config(self) -> AttackSuiteConfig:
        config: AttackSuiteConfig = {
            "name": self.name,
            "norm": self.norm,
            "eps": list(self.input_eps),
            "bounds": None if self.bounds is None else bounds_to_json(self.bounds),
            "attacks": [a.config() for a in self.attacks],
        }
        if self.eps_written:
            config["eps_written"] = list(self.eps_written)
        if self.headline_eps is not None:
            config["headline_eps"] = float(self.headline_eps)
        if self.constraints is not None:  # only then: cells of unconstrained suites keep their keys
            config["constraints"] = self.constraints.config()
        if self.chain:
            config["chain"] = True
        return config


def _attack_spec(path: Path, table: dict, norm: str, index: int) -> AttackSpec:
    where = f"[[attack]] #{index + 1}"
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table.")
    kind = str(table.get("type", "")).lower()
    if kind not in ATTACK_TYPES:
        reject_unknown_keys(path, table, ATTACK_KEYS, where)
        raise bad_value(path, where, "type", table.get("type"), " or ".join(ATTACK_TYPES))
    own = _own_settings(kind)
    reject_unknown_keys(path, table, {**ATTACK_KEYS, **own}, where)
    extra = tuple(sorted((k, v) for k, v in table.items() if k in own))
    if extra:
        try:
            ATTACKS[kind](eps=0.0, norm=norm, **dict(extra))
        except (ConfigError, TypeError, ValueError) as err:
            raise ConfigError(f"{path}: {where}: {err}") from None
    name = table.get("name", kind)
    if not isinstance(name, str) or not name:
        raise bad_value(path, where, "name", name, "a non-empty string")
    steps = integer_value(path, where, "steps", table.get("steps", DEFAULT_STEPS[kind]), 1)
    attack = ATTACKS[kind]
    if attack.budget is None and steps != 1:
        raise bad_value(path, where, "steps", steps, f"1 for {kind}, a one-step attack (use type = 'pgd' for several)")
    step_size = table.get("step_size")
    rel = table.get("rel_step_size")
    if step_size is not None and rel is not None:
        raise ConfigError(f"{path}: {where} sets both step_size and rel_step_size; keep one.")
    if not attack.accepts("step_size") and (step_size is not None or rel is not None):
        raise ConfigError(f"{path}: {where}: {kind} takes no step size (its steps are chosen by the attack).")
    step_size = None if step_size is None else positive_value(path, where, "step_size", step_size)
    rel = None if rel is None else positive_value(path, where, "rel_step_size", rel)
    random_start = table.get("random_start", attack.budget is not None)
    if not isinstance(random_start, bool):
        raise bad_value(path, where, "random_start", random_start, "true or false")
    if kind in RANDOM_START_ONLY and not random_start:
        raise bad_value(path, where, "random_start", random_start, f"true ({kind} chooses its own starting points)")
    restarts = integer_value(path, where, "restarts", table.get("restarts", 1), 1)
    if restarts > 1 and not attack.accepts("restarts"):
        raise bad_value(path, where, "restarts", restarts, f"1: {kind} takes no restarts")
    if restarts > 1 and not random_start:
        raise bad_value(path, where, "restarts", restarts, "1 unless random_start = true")
    loss = table.get("loss", attack.default_loss())
    if kind in OWN_LOSS and "loss" in table:
        raise bad_value(path, where, "loss", loss, f"nothing: {kind} always uses its own loss")
    if kind not in OWN_LOSS and loss not in LOSSES:
        raise bad_value(path, where, "loss", loss, ", ".join(LOSSES))
    n_targets = table.get("n_targets")
    if n_targets is not None:
        n_targets = integer_value(path, where, "n_targets", n_targets, 1)
        if not attack.accepts("n_targets"):
            takers = " and ".join(k for k, a in ATTACKS.items() if a.accepts("n_targets"))
            raise bad_value(path, where, "n_targets", n_targets, f"nothing: it is a setting of {takers}")
    sparsity = table.get("sparsity")
    if sparsity is not None:
        sparsity = positive_value(path, where, "sparsity", sparsity)
        if sparsity > 1 or norm != "l1":
            raise bad_value(path, where, "sparsity", sparsity, "a fraction in (0, 1], for norm = 'l1' only")
    straight = table.get("straight_through", False)
    if not isinstance(straight, bool):
        raise bad_value(path, where, "straight_through", straight, "true or false")
    if straight and not attack.accepts("straight_through"):
        raise bad_value(path, where, "straight_through", straight, f"nothing: {kind} uses no gradient")
    return AttackSpec(
        name, kind, norm, steps, step_size, rel, random_start, restarts, loss, sparsity, n_targets, straight, extra
    )


MANAGED = {"eps", "norm", "bounds", "batch_size", "seed", "early_stop", "jit_compile", "targeted", "target", "queries"}


def _own_settings(kind: str) -> dict[str, str]:
    """The settings only this attack type has, as suite keys: its class's signature less the shared keys."""
    parameters = ATTACKS[kind].parameters()
    return {
        name: f"{kind}'s own setting (default {parameter.default!r})"
        for name, parameter in parameters.items()
        if name not in ATTACK_KEYS and name not in MANAGED
    }


def _bounds_value(path: Path, bounds: Any) -> tuple[Any, Any] | None:
    """``bounds = [lower, upper]`` of a suite file, each side a number or (nested) list, or None."""
    if bounds is None:
        return None
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise bad_value(path, "top-level", "bounds", bounds, ATTACK_SUITE_KEYS["bounds"])
    try:
        lower, upper = validate_bounds(bounds)
    except (ConfigError, ValueError):
        raise bad_value(path, "top-level", "bounds", bounds, "[lower, upper], finite, with lower < upper") from None
    return (float(lower) if lower.ndim == 0 else lower.tolist(), float(upper) if upper.ndim == 0 else upper.tolist())


def load_attack_suite(name_or_path: str) -> AttackSuite:
    """Load and validate an attack suite (a file in ``attacks/`` or a path)."""
    path = find_file(name_or_path, "attacks")
    data = read_toml(path)
    reject_unknown_keys(path, data, ATTACK_SUITE_KEYS, "the top level")
    norm = str(data.get("norm", "")).lower()
    if norm not in NORMS:
        raise bad_value(path, "top-level", "norm", data.get("norm"), ", ".join(NORMS))
    raw_eps = data.get("eps")
    if not isinstance(raw_eps, list) or not raw_eps:
        raise bad_value(path, "top-level", "eps", raw_eps, ATTACK_SUITE_KEYS["eps"])
    unit = data.get("eps_unit", "input")
    if unit not in ("input", "range"):
        raise bad_value(path, "top-level", "eps_unit", unit, ATTACK_SUITE_KEYS["eps_unit"])
    eps = []
    for value in raw_eps:
        try:
            eps.append(as_fraction_of_range(value) if unit == "range" else parse_eps(value))
        except ConfigError:
            raise bad_value(path, "top-level", "eps", value, "numbers >= 0 or fractions like '8/255'") from None
    if len(set(eps)) != len(eps):
        raise bad_value(path, "top-level", "eps", raw_eps, "distinct numbers")
    bounds = _bounds_value(path, data.get("bounds"))
    headline = data.get("headline_eps")
    if headline is not None:
        try:
            headline = as_fraction_of_range(headline) if unit == "range" else parse_eps(headline)
        except ConfigError:
            raise bad_value(path, "top-level", "headline_eps", headline, ATTACK_SUITE_KEYS["headline_eps"]) from None
        if headline not in eps:
            raise bad_value(path, "top-level", "headline_eps", data["headline_eps"], f"one of eps = {raw_eps}")
    chain = data.get("chain", False)
    if not isinstance(chain, bool):
        raise bad_value(path, "top-level", "chain", chain, "true or false")
    tables = data.get("attack")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path}: no [[attack]] tables; add at least one (type = 'fgsm' or 'pgd').")
    attacks = tuple(_attack_spec(path, table, norm, i) for i, table in enumerate(tables))
    names = [a.name for a in attacks]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: attack names must be distinct, got {names}.")
    if "worst-case" in names:
        raise ConfigError(f"{path}: 'worst-case' is reserved for the combined rows; rename that attack.")
    return AttackSuite(
        str(data.get("name", path.stem)),
        norm,
        tuple(eps) if any(isinstance(e, Fraction) for e in eps) else tuple(sorted(float(e) for e in eps)),
        attacks,
        bounds,
        str(data.get("description", "")),
        str(path),
        headline_eps=headline,
        chain=chain,
    )


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
        return config


GATE_KEYS = {
    "min_robust_accuracy": 'a table of "[model/]attack_suite:eps" = minimum worst-case robust accuracy in [0, 1]',
    "tolerance": "largest allowed drop in robust accuracy against the baseline, in [0, 1] (instead of the test)",
    "confidence": "confidence of the regression test against the baseline, in (0.5, 1)",
    "allow_checks": "a list of trust-check names whose failure does not fail the gate",
    "baseline": "path of the baseline results.json",
}


def _gate_table(path: Path, gate: dict) -> dict:
    reject_unknown_keys(path, gate, GATE_KEYS, "[gate]")
    minimums = gate.get("min_robust_accuracy", {})
    if not isinstance(minimums, dict):
        raise bad_value(path, "[gate]", "min_robust_accuracy", minimums, GATE_KEYS["min_robust_accuracy"])
    for key, value in minimums.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise bad_value(path, "[gate] min_robust_accuracy", key, value, "a number in [0, 1]")
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
    attack_suites = []
    for attack in attacks:
        try:
            attack_suites.append(load_attack_suite(attack))
        except ConfigError as err:
            raise ConfigError(f"{path}: in attacks = [... {attack!r} ...]: {err}") from None
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
        _bounds_value(path, data.get("bounds")),
        integer_value(path, "top-level", "shard_size", data.get("shard_size", DEFAULT_SHARD_SIZE), 1),
        _class_names(path, data.get("class_names")),
        _feature_spec(path, data),
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

"""Attack suites as data (``attacks/*.toml``): one threat model and the attacks to run in it.

An attack suite declares a norm, an epsilon grid, optional bounds, and its attacks::

    name = "linf"
    norm = "linf"
    eps = [0.01, 0.02, 0.05, 0.1]

    [[attack]]
    name = "pgd-20"
    type = "pgd"
    steps = 20
    rel_step_size = 0.125   # step = 0.125 * eps

or names a version of AutoAttack, whose attacks then run chained, each on the survivors of the
ones before (the list comes from :func:`robustkit.attacks.ensemble.version_attacks`)::

    [autoattack]
    version = "standard"

What each attack type takes, its defaults and its kind come from its class
(:mod:`robustkit.attacks`). Unknown keys and bad values raise :class:`ConfigError` naming the
file, the key and what is allowed.

Example:
    >>> [a.name for a in load_attack_suite("autoattack-linf").attacks]
    ['apgd-ce', 'apgd-t', 'fab-t', 'square']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from robustkit.attacks.ensemble import version_attacks
from robustkit.attacks.registry import ATTACKS
from robustkit.constraints import Constraints
from robustkit.errors import ConfigError
from robustkit.evaluation.attack_suite_keys import (
    ATTACK_KEYS,
    ATTACK_SUITE_KEYS,
    ATTACK_TYPES,
    AUTOATTACK_KEYS,
    DEFAULT_STEPS,
    ENSEMBLE_TYPES,
    OWN_LOSS,
    RANDOM_START_ONLY,
    own_settings,
)
from robustkit.evaluation.results import AttackSuiteConfig
from robustkit.evaluation.suite_files import (
    bad_value,
    bounds_value,
    eps_grid,
    find_file,
    integer_value,
    positive_value,
    read_toml,
    reject_unknown_keys,
)
from robustkit.losses import LOSSES
from robustkit.norms import NORMS
from robustkit.ranges import Eps, bounds_to_json, resolved_grid


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
        those its class takes (:meth:`robustkit.attacks.LoopAttack.parameters`)."""
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
        eps, written, headline = resolved_grid(self.eps, self.headline_eps, bounds)
        return replace(self, eps=eps, eps_written=written, headline_eps=headline)

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
    if kind in ENSEMBLE_TYPES:
        raise ConfigError(
            f"{path}: {where}: {kind} is an ensemble; name it in an [{kind}] table (version = 'standard'), which runs "
            "its attacks in order on the survivors and records which one broke each example."
        )
    if kind not in ATTACK_TYPES:
        reject_unknown_keys(path, table, ATTACK_KEYS, where)
        raise bad_value(path, where, "type", table.get("type"), " or ".join(ATTACK_TYPES))
    own = own_settings(kind)
    reject_unknown_keys(path, table, {**ATTACK_KEYS, **own}, where)
    extra = tuple(sorted((k, v) for k, v in table.items() if k in own))
    if extra:
        try:
            attack_class: Any = ATTACKS[kind]
            attack_class(eps=0.0, norm=norm, **dict(extra))
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


def load_attack_suite(name_or_path: str) -> AttackSuite:
    """Load and validate an attack suite (a file in ``attacks/`` or a path)."""
    path = find_file(name_or_path, "attacks")
    data = read_toml(path)
    reject_unknown_keys(path, data, ATTACK_SUITE_KEYS, "the top level")
    norm = str(data.get("norm", "")).lower()
    if norm not in NORMS:
        raise bad_value(path, "top-level", "norm", data.get("norm"), ", ".join(NORMS))
    eps, headline = eps_grid(path, data, ATTACK_SUITE_KEYS)
    bounds = bounds_value(path, data.get("bounds"), ATTACK_SUITE_KEYS["bounds"])
    chain = data.get("chain", False)
    if not isinstance(chain, bool):
        raise bad_value(path, "top-level", "chain", chain, "true or false")
    tables = data.get("attack")
    if "autoattack" in data:
        if tables is not None:
            raise ConfigError(f"{path}: sets both [autoattack] and [[attack]] tables; keep one.")
        if "chain" in data and not chain:
            raise bad_value(path, "top-level", "chain", chain, "true or nothing: AutoAttack's attacks run chained")
        tables, chain = _autoattack_tables(path, data["autoattack"], norm), True
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


def _autoattack_tables(path: Path, table: Any, norm: str) -> list[dict]:
    """The ``[[attack]]`` tables of the AutoAttack version an ``[autoattack]`` table names."""
    if not isinstance(table, dict):
        raise bad_value(path, "top-level", "autoattack", table, "a table such as [autoattack] version = 'standard'")
    reject_unknown_keys(path, table, AUTOATTACK_KEYS, "[autoattack]")
    try:
        listed = version_attacks(norm=norm, **table)
    except ConfigError as err:
        raise ConfigError(f"{path}: [autoattack]: {err}") from None
    return [
        {"name": label, "type": kind, **{("steps" if k == ATTACKS[kind].budget else k): v for k, v in settings.items()}}
        for label, kind, settings in listed
    ]

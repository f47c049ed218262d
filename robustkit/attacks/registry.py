"""One way to build an attack from a name and settings (suites, the command line, tests).

Example:
    >>> build_attack("pgd", eps=0.1, steps=20).config()["steps"]
    20
    >>> build_attack("l1-pgd", eps=1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    robustkit.errors.ConfigError: Unknown attack 'l1-pgd'; choose one of fgsm, pgd, apgd, apgd-t, fab, square...
"""

from __future__ import annotations

import importlib
from typing import Any

from robustkit.attacks.declared import Declared
from robustkit.attacks.kinds import Attack, kind_of
from robustkit.constraints import Constraints
from robustkit.errors import ConfigError
from robustkit.norms import L1Norm

# The attacks suites and the command line can name, one line each ("module:Class"); the class says
# the rest (its settings, kind, budget: robustkit.attacks.base.LoopAttack).
REGISTERED = (
    "robustkit.attacks.fgsm:FGSM",
    "robustkit.attacks.pgd:PGD",
    "robustkit.attacks.apgd:APGD",
    "robustkit.attacks.apgd:APGDT",
    "robustkit.attacks.fab:FAB",
    "robustkit.attacks.square:Square",
    "robustkit.attacks.fmn:FMN",
    "robustkit.attacks.ensemble:AutoAttack",
)


def _registered() -> dict[str, Any]:
    attacks = {}
    for entry in REGISTERED:
        module, name = entry.split(":")
        attack = getattr(importlib.import_module(module), name)
        attacks[attack.name] = attack
    return attacks


ATTACKS: dict[str, type[Declared]] = _registered()


def build_attack(
    name: str, *, sparsity: float | None = None, constraints: Constraints | None = None, **settings: Any
) -> Attack:
    """The registered attack ``name`` (``"pgd"``, ``"square"``, ``"autoattack"``, ...) with ``settings``
    (its constructor's arguments).

    Args:
        name: a key of :data:`ATTACKS`, in any case.
        sparsity: the share of coordinates an L1 step moves (``norm="l1"`` only).
        constraints: feature constraints the attack keeps (:mod:`robustkit.constraints`).
        **settings: the class's own settings; one it does not take, a missing eps or a refused value is a
            :class:`~robustkit.errors.ConfigError` that names it.
    """
    kind = str(name).lower()
    if kind not in ATTACKS:
        raise ConfigError(f"Unknown attack {name!r}; choose one of {', '.join(ATTACKS)}.")
    if sparsity is not None:
        if settings.get("norm") != "l1":
            raise ConfigError("sparsity is a setting of L1 attacks; set norm='l1' or leave it out.")
        settings["norm"] = L1Norm(sparsity)
    cls = ATTACKS[kind]
    unknown = sorted(set(settings) - set(cls.parameters()))
    if unknown:
        raise ConfigError(
            f"The {kind} attack takes no setting {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(cls.parameters())}."
        )
    missing = [k for k, p in cls.parameters().items() if p.default is p.empty and k not in settings]
    if missing:
        raise ConfigError(f"The {kind} attack needs {', '.join(map(repr, missing))}.")
    attack: Any = cls(**settings)
    kind_of(attack)
    return attack.with_constraints(constraints)

"""One way to build an attack from a name and settings (suites, the command line, tests).

Example:
    >>> build_attack("pgd", eps=0.1, steps=20).config()["steps"]
    20
    >>> build_attack("l1-pgd", eps=1.0)
    Traceback (most recent call last):
    ...
    robustkit.errors.ConfigError: Unknown attack 'l1-pgd'; choose one of fgsm, pgd, apgd, apgd-t, fab, square.
"""

from __future__ import annotations

from typing import Any

from robustkit.attacks.apgd import APGD, APGDT
from robustkit.attacks.base import GradientAttack
from robustkit.attacks.fab import FAB
from robustkit.attacks.fgsm import FGSM
from robustkit.attacks.pgd import PGD
from robustkit.attacks.square import Square
from robustkit.constraints import Constraints
from robustkit.errors import ConfigError
from robustkit.norms import L1Norm

ATTACKS: dict[str, type[GradientAttack]] = {
    "fgsm": FGSM,
    "pgd": PGD,
    "apgd": APGD,
    "apgd-t": APGDT,
    "fab": FAB,
    "square": Square,
}


def build_attack(
    name: str, *, sparsity: float | None = None, constraints: Constraints | None = None, **settings: Any
) -> GradientAttack:
    """The attack ``name`` (``"fgsm"`` or ``"pgd"``) with ``settings`` (its constructor's arguments).

    ``sparsity`` sets the share of coordinates an L1 step moves (``norm="l1"`` only).
    """
    kind = str(name).lower()
    if kind not in ATTACKS:
        raise ConfigError(f"Unknown attack {name!r}; choose one of {', '.join(ATTACKS)}.")
    if sparsity is not None:
        if settings.get("norm") != "l1":
            raise ConfigError("sparsity is a setting of L1 attacks; set norm='l1' or leave it out.")
        settings["norm"] = L1Norm(sparsity)
    try:
        attack = ATTACKS[kind](**settings)
    except TypeError as err:
        raise ConfigError(f"Bad settings for the {kind} attack: {err}.") from None
    return attack.with_constraints(constraints)

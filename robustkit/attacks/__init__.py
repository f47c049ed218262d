"""FGSM, PGD, APGD, APGD-T, FAB-T, FMN and Square under L-inf, L2 and L1 threat models, and their ensemble
AutoAttack: every one registered by name (:data:`ATTACKS`, :func:`build_attack`).

Example:
    >>> from robustkit.attacks import PGD
    >>> PGD(eps=8 / 255, steps=10).effective_step_size()
    0.00784313725490196
"""

from robustkit.attacks.apgd import APGD, APGDT
from robustkit.attacks.base import LoopAttack
from robustkit.attacks.declared import Declared
from robustkit.attacks.ensemble import AutoAttack
from robustkit.attacks.fab import FAB
from robustkit.attacks.fgsm import FGSM
from robustkit.attacks.gradient_attack import GradientAttack
from robustkit.attacks.pgd import PGD
from robustkit.attacks.registry import ATTACKS, build_attack
from robustkit.attacks.result import AttackResult
from robustkit.attacks.square import Square

# A registered attack is also exported by its class name (robustkit.attacks.registry.REGISTERED).
_BY_CLASS = {attack.__name__: attack for attack in ATTACKS.values()}


def __getattr__(name: str) -> type[Declared]:
    if name in _BY_CLASS:
        return _BY_CLASS[name]
    raise AttributeError(f"module 'robustkit.attacks' has no attribute {name!r}")


__all__ = [
    "LoopAttack",
    "GradientAttack",
    "FGSM",
    "PGD",
    "APGD",
    "APGDT",
    "FAB",
    "Square",
    "AutoAttack",
    "AttackResult",
    "ATTACKS",
    "build_attack",
]
__all__ += sorted(set(_BY_CLASS) - set(__all__))

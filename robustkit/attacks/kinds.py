"""The kinds of attack, each a small protocol: what the runner and the ensemble may rely on.

* A **gradient** attack (FGSM, PGD, APGD, APGD-T) climbs a loss inside the eps-ball with steps of
  a step rule on the shared loop (:mod:`robustkit.attacks.loop`); ``steps`` is its budget.
* A **score-based** attack (Square) steps on the same loop with forward passes only; ``queries``
  is its budget and the result counts them (``result.queries``), not gradient evaluations.
* A **minimum-norm** attack (FAB-T, FMN) runs a loop of its own that looks for each example's
  closest adversarial point; the result gives that distance (``result.radius``), and an attack
  that declares ``every_eps_at_once`` answers a whole eps grid from one run.
* An **ensemble** (AutoAttack) runs attacks in order, each on the examples every earlier one
  left robust, and says which attack broke each example (``result.broken_by``).

A class says which kind it is with ``kind``; :func:`kind_of` checks that it keeps that kind's
protocol, so a new attack that forgets a part fails loudly rather than running half-configured.

Example:
    >>> from robustkit.attacks import FMN, PGD, Square
    >>> [kind_of(attack) for attack in (PGD(eps=0.1), Square(eps=0.1), FMN(eps=0.1))]
    ['gradient', 'score', 'minimum-norm']
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from robustkit.attacks.loop import OwnLoop, StepRule
from robustkit.attacks.result import AttackResult
from robustkit.errors import ConfigError


@runtime_checkable
class Attack(Protocol):
    """What every attack and ensemble offers: a radius, a run over data, and a name among others."""

    name: str
    eps: float

    def run(self, model: Any, x: Any, y: Any, *, seed: int | None = None, index: Any = None) -> AttackResult: ...

    def __call__(self, model: Any, x: Any, y: Any, *, seed: int | None = None, index: Any = None) -> Any: ...


@runtime_checkable
class GradientStepAttack(Attack, Protocol):
    """Steps of a step rule on the shared loop, each step one gradient evaluation per example."""

    steps: int
    kind: ClassVar[str]

    def step_rule(self) -> StepRule: ...


@runtime_checkable
class ScoreBasedAttack(GradientStepAttack, Protocol):
    """Steps of a step rule that needs no gradient: each step one query (a forward pass) per example."""

    @property
    def queries(self) -> int: ...


@runtime_checkable
class MinimumNormAttack(Attack, Protocol):
    """A loop of its own that finds each example's closest adversarial point (``result.radius``)."""

    every_eps_at_once: ClassVar[bool]

    def loop_rule(self) -> OwnLoop: ...


@runtime_checkable
class Ensemble(Protocol):
    """Attacks in order, each on the survivors of the ones before; ``result.broken_by`` names who broke what."""

    name: str
    eps: float
    names: list[str]
    attacks: list[Any]

    def run(self, model: Any, x: Any, y: Any, *, seed: int | None = None, index: Any = None) -> AttackResult: ...

    def contributions(self, result: AttackResult) -> dict[str, int]: ...


KINDS: dict[str, type] = {
    "gradient": GradientStepAttack,
    "score": ScoreBasedAttack,
    "minimum-norm": MinimumNormAttack,
    "ensemble": Ensemble,
}


def kind_of(attack: Any) -> str:
    """The kind ``attack`` declares, once checked against that kind's protocol."""
    kind = getattr(attack, "kind", None)
    if kind not in KINDS:
        raise ConfigError(f"{type(attack).__name__} declares kind={kind!r}; an attack declares one of {list(KINDS)}.")
    if not isinstance(attack, KINDS[kind]):
        raise ConfigError(
            f"{type(attack).__name__} declares kind={kind!r} but lacks part of that kind's protocol "
            f"({KINDS[kind].__name__} in robustkit.attacks.kinds)."
        )
    rules: Any = attack  # the protocol's check above vouches for its rule methods
    if kind == "score" and rules.step_rule().needs_gradient:
        raise ConfigError(f"{type(attack).__name__} is score-based, but its step rule asks for gradients.")
    if kind == "minimum-norm" and not isinstance(rules.loop_rule(), OwnLoop):
        raise ConfigError(f"{type(attack).__name__} is minimum-norm, but has no loop of its own (loop_rule).")
    return kind

r"""What values an attack's setting may take: the kinds of declaration, and the settings every attack shares.

A declaration says whether it ``allows`` a value, ``describe``\ s what it allows for an error message,
and names a few values it refuses (``invalid``), so that one test can try them on every registered
class. :data:`COMMON` declares the settings the attacks share (eps, norm, bounds, steps, batch size,
seed, ...); a class adds its own in ``parameter_constraints`` (:class:`robustkit.attacks.declared.Declared`).

Example:
    >>> Interval(0, 1, closed="right").allows(0.0), OneOf(("ce", "dlr")).describe()
    (False, "one of 'ce', 'dlr'")
    >>> COMMON["seed"].describe(), COMMON["eps"].allows("8/255")
    ('None or an integer >= 0', True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from robustkit.attacks.settings import optional_step_size, target_mode
from robustkit.constraints import Constraints
from robustkit.errors import ConfigError, InputError
from robustkit.inputs import validate_bounds, validate_eps
from robustkit.losses import LOSSES, validate_loss
from robustkit.norms import get_norm
from robustkit.ranges import parse_eps


class Constraint(Protocol):
    """A declaration of the values one setting may take."""

    def allows(self, value: Any) -> bool: ...

    def describe(self) -> str: ...

    def invalid(self) -> tuple[Any, ...]: ...


@dataclass(frozen=True)
class Interval:
    """Numbers (or integers) between ``low`` and ``high``; ``closed``: which ends belong ("both", "left", ...)."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"
    integer: bool = False

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        if self.integer and not isinstance(value, (int, np.integer)):
            return False
        if not math.isfinite(float(value)):
            return False
        low_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return bool(low_ok and high_ok)

    def invalid(self) -> tuple[Any, ...]:
        """Values it refuses: a word, NaN, a boolean, and one past each end."""
        refused: list[Any] = ["ten", float("nan"), True]
        if self.low is not None:
            refused.append(self.low if self.closed in ("right", "neither") else self.low - 1)
        if self.high is not None:
            refused.append(self.high if self.closed in ("left", "neither") else self.high + 1)
        if self.integer:
            refused.append((self.low or 0) + 1.5)
        return tuple(refused)

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        if self.low is not None and self.high is not None:
            return f"{kind} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{kind} {'>=' if left == '[' else '>'} {self.low:g}"
        if self.high is not None:
            return f"{kind} {'<=' if right == ']' else '<'} {self.high:g}"
        return "an integer" if self.integer else "a finite number"


@dataclass(frozen=True)
class OneOf:
    """One of a few values."""

    values: tuple[Any, ...]

    def allows(self, value: Any) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.values))

    def invalid(self) -> tuple[Any, ...]:
        return ("no-such-choice",)


@dataclass(frozen=True)
class Boolean:
    """True or False (NumPy's booleans too)."""

    def allows(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "True or False"

    def invalid(self) -> tuple[Any, ...]:
        return ("yes", 2)


@dataclass(frozen=True)
class NoneOr:
    """None, or what ``inner`` allows."""

    inner: Any

    def allows(self, value: Any) -> bool:
        return value is None or self.inner.allows(value)

    def describe(self) -> str:
        return "None or " + self.inner.describe()

    def invalid(self) -> tuple[Any, ...]:
        return tuple(v for v in self.inner.invalid() if v is not None)

    def problem(self, name: str, value: Any) -> str | None:
        explain = getattr(self.inner, "problem", None)
        return None if value is None or explain is None else explain(name, value)


@dataclass(frozen=True)
class Checked:
    """What a validator of the package accepts (it raises for anything else)."""

    check: Callable[[Any], Any] = field(repr=False)
    description: str
    refused: tuple[Any, ...]

    def allows(self, value: Any) -> bool:
        try:
            self.check(value)
        except (ConfigError, InputError, TypeError, ValueError):
            return False
        return True

    def describe(self) -> str:
        return self.description

    def invalid(self) -> tuple[Any, ...]:
        return self.refused

    def problem(self, name: str, value: Any) -> str | None:
        """The validator's own words for a refused value (they say more than the description), or None."""
        try:
            self.check(value)
        except (ConfigError, InputError) as err:
            return str(err)
        except (TypeError, ValueError):
            return f"{name} must be {self.description}, got {value!r}."
        return None


def _radius(value: Any) -> None:
    validate_eps(parse_eps(value))


def _sequence(value: Any) -> None:
    if not isinstance(value, (list, tuple)):
        raise TypeError("not a list")


def _feature_constraints(value: Any) -> None:
    if not isinstance(value, Constraints):
        raise TypeError("not Constraints")


COMMON: dict[str, Any] = {
    "eps": NoneOr(Checked(_radius, "a number >= 0 or a fraction of the range such as '8/255'", (-0.1, "big", "-1/2"))),
    "norm": Checked(get_norm, "'linf', 'l2', 'l1' or a Norm", ("l3", 7)),
    "loss": Checked(validate_loss, "one of " + ", ".join(LOSSES), ("hinge",)),
    "targeted": Boolean(),
    "target": Checked(target_mode, "None, 'random' or 'least_likely'", ("most_likely",)),
    "random_start": Boolean(),
    "early_stop": Boolean(),
    "straight_through": Boolean(),
    "jit_compile": Boolean(),
    "bounds": Checked(validate_bounds, "(low, high) with low < high, numbers or arrays", ((1.0, 0.0), "0-1")),
    "steps": Interval(1, integer=True),
    "queries": Interval(1, integer=True),
    "restarts": Interval(1, integer=True),
    "eot": Interval(1, integer=True),
    "n_targets": Interval(1, integer=True),
    "batch_size": Interval(1, integer=True),
    "seed": NoneOr(Interval(0, integer=True)),
    "step_size": Checked(optional_step_size, "None or a finite number > 0", (0.0, -1, "big")),
    "attacks": NoneOr(Checked(_sequence, "a list of attacks", ("apgd",))),
    "constraints": NoneOr(Checked(_feature_constraints, "robustkit.constraints.Constraints", ("immutable",))),
}

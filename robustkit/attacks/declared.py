"""What an attack class declares about itself: its kind, its budget, its settings and their allowed values.

Suites, the command line, reports and checks ask the class, never a table kept elsewhere. The
settings are the constructor's signature (names and defaults); what values each may take is
declared next to it, in ``parameter_constraints`` (the settings every attack shares are declared once,
in :data:`robustkit.attacks.parameter_rules.COMMON`), and every value is checked when the class is
built, before its constructor runs, in the manner of scikit-learn's ``_parameter_constraints``:

Example:
    >>> class Toy(Declared):
    ...     parameter_constraints = {"rho": Interval(0, 1, closed="right"), "steps": Interval(1, integer=True)}
    ...     def __init__(self, rho: float = 0.75, steps: int = 10):
    ...         self.rho, self.steps = rho, steps
    >>> Toy.parameters()["rho"].default, Toy.allowed("rho")
    (0.75, 'a number in (0, 1]')
    >>> Toy(rho=2.0)
    Traceback (most recent call last):
    ...
    robustkit.errors.ConfigError: rho must be a number in (0, 1], got 2.0.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar

from robustkit.attacks.parameter_rules import COMMON, Constraint, Interval, OneOf
from robustkit.errors import ConfigError

__all__ = ["Declared", "Interval", "OneOf"]


class Declared:
    """The declarations every attack class makes (see the module docstring)."""

    kind: ClassVar[str] = "gradient"  # "gradient", "score" (outputs only), "minimum-norm" or "ensemble"
    budget: ClassVar[str | None] = "steps"  # what `steps` counts ("steps", "queries"), or None: one step
    own_loss: ClassVar[str | None] = None  # the loss it always climbs (it takes no loss setting)
    chooses_start: ClassVar[bool] = False  # starts at points of its own choosing (no random_start setting)
    every_eps_at_once: ClassVar[bool] = False  # minimum-norm, and eps changes nothing of its search: one run
    parameter_constraints: ClassVar[dict[str, Constraint]] = COMMON  # allowed values, by setting

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check every setting against its declaration before the constructor runs (once per object)."""
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        construct = cls.__dict__["__init__"]
        signature = inspect.signature(construct)

        @functools.wraps(construct)
        def checked(self: Any, *args: Any, **settings: Any) -> None:
            if not self.__dict__.get("_settings_checked"):
                self.__dict__["_settings_checked"] = True
                bound = signature.bind(self, *args, **settings)
                bound.apply_defaults()
                type(self).check_parameters(**{k: v for k, v in list(bound.arguments.items())[1:]})
            construct(self, *args, **settings)

        cls.__init__ = checked  # type: ignore[method-assign]

    @classmethod
    def parameters(cls) -> dict[str, inspect.Parameter]:
        """The settings the constructor takes, with their defaults: the one list of them.

        Example:
            >>> from robustkit.attacks import Square
            >>> Square.parameters()["queries"].default, "step_size" in Square.parameters()
            (5000, False)
        """
        return {k: v for k, v in inspect.signature(cls.__init__).parameters.items() if k != "self"}

    @classmethod
    def accepts(cls, setting: str) -> bool:
        """Whether ``setting`` is one of the constructor's settings."""
        return setting in cls.parameters()

    @classmethod
    def allowed(cls, setting: str) -> str:
        """What values ``setting`` may take, in words ("" when the class declares nothing for it)."""
        constraint = cls._constraints().get(setting)
        return "" if constraint is None else constraint.describe()

    @classmethod
    def _constraints(cls) -> dict[str, Constraint]:
        merged: dict[str, Constraint] = {}
        for klass in reversed(cls.__mro__):  # a subclass's declaration overrides its base's
            merged.update(getattr(klass, "parameter_constraints", {}) or {})
        return merged

    @classmethod
    def constraint(cls, setting: str) -> Constraint | None:
        """The declaration of ``setting``'s allowed values (None when the class declares none)."""
        return cls._constraints().get(setting)

    @classmethod
    def check_parameters(cls, **values: Any) -> None:
        """Raise :class:`ConfigError` for the first value its declaration does not allow."""
        constraints = cls._constraints()
        for name, value in values.items():
            constraint = constraints.get(name)
            if constraint is not None and not constraint.allows(value):
                explain = getattr(constraint, "problem", None)
                words = explain(name, value) if explain is not None else None
                raise ConfigError(words or f"{name} must be {constraint.describe()}, got {value!r}.")

    @classmethod
    def default_budget(cls) -> int:
        """The default of what :attr:`budget` counts (1 for a one-step attack)."""
        if cls.budget is None:
            return 1
        return int(cls.parameters()[cls.budget].default)

    @classmethod
    def default_loss(cls) -> str:
        """The loss it climbs unless told otherwise."""
        if cls.own_loss is not None:
            return cls.own_loss
        loss = cls.parameters().get("loss")
        return "ce" if loss is None else str(loss.default)

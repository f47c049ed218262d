"""The part of the loop that an attack family writes: its state, how it starts and how it steps.

A step rule is a small frozen dataclass with two methods over a named state (a ``NamedTuple``
whose first field is the current point ``x`` and whose every field has one row per example):

* ``init(problem, x, restart) -> state``: the starting state of one restart;
* ``step(problem, state, evaluation, rows) -> state``: one step, given the model's evaluation
  (objective, gradient, verdict) at ``state.x``.

Every rule says whether it ``needs_gradient``: a score-based rule (Square) sets it to False, and
its evaluations are forward passes that carry no gradient.

An attack with a loop of its own (a minimum-norm attack keeps the closest point, not the best
objective) gives an :class:`OwnLoop` instead: it builds the whole attack function itself.

Everything else (batching, compiling, restarts, keeping each example's best point, early
stopping with a shrinking batch, counting gradient evaluations) is the shared loop's. Because
every field of the state has a row per example, the loop can gather, freeze and scatter it
without knowing what it holds.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import tensorflow as tf

from robustkit.attacks.loop.problem import Problem, Rows
from robustkit.attacks.loop.records import Evaluation


class StepRule(Protocol):
    """An attack family's own part of the loop (see the module docstring)."""

    needs_gradient: bool  # False: a score-based rule, its evaluations are forward passes

    @property
    def starts_at_x(self) -> bool:
        """Whether every restart's first step is taken from x itself (so its evaluation can be shared)."""
        ...

    def init(self, problem: Problem, x: tf.Tensor, restart: tf.Tensor) -> Any: ...

    def step(self, problem: Problem, state: Any, evaluation: Evaluation, rows: Rows) -> Any: ...


@runtime_checkable
class OwnLoop(Protocol):
    """A loop of an attack's own: ``build`` returns the function of ``(x, labels, eps, step_size, keys)``."""

    @property
    def starts_at_x(self) -> bool:
        """Always False: no shared first step is taken from x."""
        ...

    def build(self, view: Any, cfg: Any, lower: Any, upper: Any) -> Any: ...


LoopRule = StepRule | OwnLoop


def map_state(fn, *states: NamedTuple) -> Any:
    """Apply ``fn`` field by field to one or more states of the same type."""
    return type(states[0])(*(fn(*fields) for fields in zip(*states)))

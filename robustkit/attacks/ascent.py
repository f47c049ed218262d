"""Projected steepest ascent: the step rule of FGSM and PGD.

From a start (x itself, or a uniform random point of the ball), each step moves by
``step_size`` along the norm's steepest-ascent direction of the objective and projects back onto
the eps-ball and the bounds. FGSM is one such step; PGD is several.

Example:
    >>> ProjectedAscent(random_start=False).starts_at_x
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import tensorflow as tf

from robustkit.attacks.loop import Evaluation, Problem, Rows


class AscentState(NamedTuple):
    x: tf.Tensor  # the current point


@dataclass(frozen=True)
class ProjectedAscent:
    """Steepest ascent in the threat model's norm, projected onto the ball and the bounds."""

    random_start: bool
    needs_gradient = True

    @property
    def starts_at_x(self) -> bool:
        return not self.random_start

    def init(self, problem: Problem, x: tf.Tensor, restart: tf.Tensor) -> AscentState:
        if not self.random_start:
            return AscentState(x)
        noise = problem.norm.random_start(x, problem.eps, problem.restart_keys(restart))
        return AscentState(problem.project(x + noise, x))

    def step(self, problem: Problem, state: AscentState, evaluation: Evaluation, rows: Rows) -> AscentState:
        direction = problem.norm.ascent_direction(evaluation.gradient, state.x, problem.lo, problem.hi)
        return AscentState(problem.project_rows(state.x + problem.step_size * direction, rows))

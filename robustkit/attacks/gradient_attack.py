"""``GradientAttack``: projected gradient ascent on the shared compiled loop (FGSM and PGD are configurations).

It adds to :class:`~robustkit.attacks.base.LoopAttack` what gradient steps need: a step size,
random starts and straight-through gradients through rounding. Gradient attack families (APGD,
FAB, FMN) subclass it and return their own step rule or loop.

Example:
    >>> GradientAttack(eps=0.1, steps=10, step_size=0.01, random_start=True).step_rule()
    ProjectedAscent(random_start=True)
"""

from __future__ import annotations

from typing import Any

from robustkit.attacks.ascent import ProjectedAscent
from robustkit.attacks.base import LoopAttack
from robustkit.attacks.loop import StepRule
from robustkit.attacks.settings import optional_step_size
from robustkit.norms import Norm
from robustkit.ranges import Eps


class GradientAttack(LoopAttack):
    """Projected gradient ascent on a loss inside an eps-ball; FGSM and PGD are configurations.

    Takes :class:`LoopAttack`'s settings (``steps`` counts gradient steps per restart) and:

    Args:
        step_size: size of each step in the attack's norm (None: the subclass's default).
        random_start: start each restart at a uniform random point of the ball.
        straight_through: differentiate rounding, flooring and float -> integer -> float casts inside
            the model as the identity (BPDA, :mod:`robustkit.straight_through`), so that gradient
            attacks can attack input quantization; the forward pass is unchanged.
    """

    def __init__(
        self,
        eps: Eps | str | None,
        steps: int = 1,
        step_size: float | None = None,
        norm: str | Norm = "linf",
        loss: str = "ce",
        targeted: bool = False,
        target: str | None = None,
        random_start: bool = False,
        restarts: int = 1,
        early_stop: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        jit_compile: bool = False,
        straight_through: bool = False,
    ):
        self.random_start = bool(random_start)  # before the restarts are checked against it
        super().__init__(
            eps, steps, norm, loss, targeted, target, restarts, early_stop, bounds, batch_size, seed, jit_compile
        )
        self.step_size = optional_step_size(step_size)
        self.straight_through = bool(straight_through)

    def step_rule(self) -> StepRule:
        return ProjectedAscent(random_start=self.random_start)

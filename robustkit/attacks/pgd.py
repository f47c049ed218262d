"""Projected Gradient Descent (Madry et al., 2018), with restarts and early stopping."""

from __future__ import annotations

from typing import Any

from robustkit.attacks.gradient_attack import GradientAttack
from robustkit.norms import Norm
from robustkit.ranges import Eps


class PGD(GradientAttack):
    """``steps`` projected steepest-ascent steps per restart, keeping each example's best point.

    The default step size is ``2.5 * eps / steps`` (Madry et al.): enough to cross the ball
    from one side to the other within the step budget, small enough to follow the loss.
    ``eot`` averages each gradient over that many passes, for randomized models. The other
    arguments are :class:`~robustkit.attacks.GradientAttack`'s.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> attack = PGD(eps=0.1, steps=10, norm="l2", seed=0)
        >>> x = np.full((2, 4), 0.5, "float32")
        >>> x_adv = attack(model, x, [0, 1])
        >>> bool((np.linalg.norm(x_adv - x, axis=1) <= 0.1 + 1e-6).all())
        True
    """

    name = "pgd"
    keep_best = True

    def __init__(
        self,
        eps: Eps | str,
        steps: int = 10,
        step_size: float | None = None,
        norm: str | Norm = "linf",
        random_start: bool = True,
        restarts: int = 1,
        loss: str = "ce",
        targeted: bool = False,
        target: str | None = None,
        early_stop: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        straight_through: bool = False,
        jit_compile: bool = False,
        eot: int = 1,
    ):
        super().__init__(
            eps=eps,
            steps=steps,
            step_size=step_size,
            norm=norm,
            loss=loss,
            targeted=targeted,
            target=target,
            random_start=random_start,
            restarts=restarts,
            early_stop=early_stop,
            bounds=bounds,
            batch_size=batch_size,
            seed=seed,
            straight_through=straight_through,
            jit_compile=jit_compile,
        )
        self.eot = int(eot)

    def default_step_size(self, eps: float) -> float:
        return 2.5 * eps / self.steps

"""FGSM (Goodfellow et al., 2015) and its L2 / L1 forms (FGM)."""

from __future__ import annotations

from typing import Any

from robustkit.attacks.gradient_attack import GradientAttack
from robustkit.norms import Norm
from robustkit.ranges import Eps


class FGSM(GradientAttack):
    """One step of size ``step_size`` (default ``eps``) in the steepest-ascent direction.

    Under L-inf this is the Fast Gradient Sign Method; under L2 / L1 it is the Fast Gradient
    Method. ``random_start=True`` starts from a random point of the ball and, with
    ``step_size=1.25 * eps``, gives the "FGSM-RS" of Wong et al. (2020). The result is the point
    after the step (projected onto the ball and bounds), as the method defines it.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> x = np.full((2, 4), 0.5, "float32")
        >>> x_adv = FGSM(eps=0.1)(model, x, [0, 1])
        >>> float(np.abs(x_adv - x).max()) <= 0.1 + 1e-6
        True
    """

    name = "fgsm"
    budget = None
    keep_best = False

    def __init__(
        self,
        eps: Eps | str,
        norm: str | Norm = "linf",
        loss: str = "ce",
        targeted: bool = False,
        random_start: bool = False,
        bounds: Any = (0.0, 1.0),
        step_size: float | None = None,
        target: str | None = None,
        early_stop: bool = False,
        batch_size: int = 256,
        seed: int | None = None,
        straight_through: bool = False,
        jit_compile: bool = False,
    ):
        super().__init__(
            eps=eps,
            steps=1,
            step_size=step_size,
            norm=norm,
            loss=loss,
            targeted=targeted,
            target=target,
            random_start=random_start,
            restarts=1,
            early_stop=early_stop,
            bounds=bounds,
            batch_size=batch_size,
            seed=seed,
            straight_through=straight_through,
            jit_compile=jit_compile,
        )

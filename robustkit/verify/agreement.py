"""A trust check on verification: no attack may break an example that a bound proved, and every
counterexample of the exact verifier must be real.

A proof and an attack that disagree cannot both be right: either the bound is unsound (a wrong
relaxation, a layer read wrongly, float rounding beyond the tolerance) or the attack reports a
point outside the ball. :func:`check_verification` attacks each proved example with PGD at the
same eps and re-checks each counterexample of an :class:`~robustkit.verify.exact.ExactResult`
against the model, the ball and the bounds. Any contradiction is a bug to report loudly.

Example:
    >>> import keras, numpy as np
    >>> from robustkit.verify import margin_bounds
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    >>> x, y = np.array([[0.8, 0.5], [0.02, 0.5]], "float32"), [0, 0]  # the margin is 2 x0
    >>> check = check_verification(model, x, y, 0.05, margin_bounds(model, x, y, 0.05).verified)
    >>> check.checked, check.passed
    (1, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robustkit.attacks import PGD
from robustkit.verify.exact import ExactResult


@dataclass
class VerificationCheck:
    """What the attack and the re-check found."""

    checked: int  # proved examples that were attacked
    broken_proofs: np.ndarray  # indices of proved examples the attack broke
    false_counterexamples: np.ndarray  # indices of "broken" examples whose counterexample does not hold

    @property
    def passed(self) -> bool:
        return len(self.broken_proofs) == 0 and len(self.false_counterexamples) == 0


def _false_counterexamples(model, x, y, eps: float, bounds, exact: ExactResult) -> np.ndarray:
    broken = np.flatnonzero(exact.status == "broken")
    if len(broken) == 0:
        return broken
    points = exact.counterexample[broken].astype(np.float32)
    predicted = np.argmax(model(points, training=False).numpy(), axis=1)
    distance = np.abs(points - x[broken]).reshape(len(broken), -1).max(axis=1)
    low, high = (np.broadcast_to(b, points.shape) for b in bounds)
    inside = np.all(((points >= low - 1e-6) & (points <= high + 1e-6)).reshape(len(broken), -1), axis=1)
    real = (predicted != np.asarray(y)[broken]) & (distance <= eps * (1 + 1e-6) + 1e-7) & inside
    return broken[~real]


def check_verification(
    model,
    x: Any,
    y: Any,
    eps: float,
    verified: Any,
    exact: ExactResult | None = None,
    *,
    bounds=(0.0, 1.0),
    steps: int = 50,
    restarts: int = 3,
    seed: int = 0,
) -> VerificationCheck:
    """Attack the ``verified`` examples (a boolean mask) with L-inf PGD at ``eps``, and re-check the
    counterexamples of ``exact`` (if given) against the model, the ball and ``bounds``."""
    x, y = np.asarray(x, np.float32), np.asarray(y)
    proved = np.flatnonzero(np.asarray(verified, bool))
    broken_proofs = np.array([], int)
    if len(proved):
        attack = PGD(eps=eps, steps=steps, step_size=eps / 4, restarts=restarts, bounds=bounds, seed=seed)
        adversarial = attack(model, x[proved], y[proved]).numpy()
        broken_proofs = proved[np.argmax(model(adversarial, training=False).numpy(), axis=1) != y[proved]]
    false = _false_counterexamples(model, x, y, eps, bounds, exact) if exact is not None else np.array([], int)
    return VerificationCheck(len(proved), broken_proofs, false)

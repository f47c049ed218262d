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
import tensorflow as tf

from robustkit.attacks import PGD
from robustkit.logits import as_logits
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


def real_counterexamples(model, x, y, points, eps: float, bounds, norm: str = "linf") -> np.ndarray:
    """Per point: is it a real counterexample to the example it stands for, i.e. misclassified by ``model``,
    within ``eps`` of it in ``norm`` and inside ``bounds``?"""
    x, points = np.asarray(x, np.float32), np.asarray(points, np.float32)
    if len(points) == 0:
        return np.zeros(0, bool)
    predicted = np.argmax(as_logits(model)(tf.convert_to_tensor(points)).numpy(), axis=1)
    order = {"linf": np.inf, "l2": 2, "l1": 1}[norm]
    distance = np.linalg.norm((points - x).reshape(len(points), -1).astype(np.float64), ord=order, axis=1)
    low, high = (np.broadcast_to(np.asarray(b, np.float32), points.shape) for b in bounds)
    inside = np.all(((points >= low - 1e-6) & (points <= high + 1e-6)).reshape(len(points), -1), axis=1)
    finite = np.all(np.isfinite(points).reshape(len(points), -1), axis=1)
    return (predicted != np.asarray(y)) & (distance <= eps * (1 + 1e-6) + 1e-7) & inside & finite


def _false_counterexamples(model, x, y, eps: float, bounds, exact: ExactResult) -> np.ndarray:
    broken = np.flatnonzero(exact.status == "broken")
    real = real_counterexamples(model, x[broken], np.asarray(y)[broken], exact.counterexample[broken], eps, bounds)
    return broken[~real]


def check_verification(
    model,
    x: Any,
    y: Any,
    eps: float,
    verified: Any,
    exact: ExactResult | None = None,
    *,
    norm: str = "linf",
    bounds=(0.0, 1.0),
    steps: int = 50,
    restarts: int = 3,
    seed: int = 0,
) -> VerificationCheck:
    """Attack the ``verified`` examples (a boolean mask) with PGD in ``norm`` at ``eps``, and re-check the
    counterexamples of ``exact`` (if given, L-inf) against the model, the ball and ``bounds``.

    Args:
        model, x, y: the model, the examples and their labels.
        eps: the radius the examples were proved at.
        verified: which examples were proved.
        exact: the exact verifier's answer, whose counterexamples are checked.
        norm, bounds: the threat model.
        steps, restarts, seed: the PGD attack's.
    """
    x, y = np.asarray(x, np.float32), np.asarray(y)
    proved = np.flatnonzero(np.asarray(verified, bool))
    broken_proofs = np.array([], int)
    if len(proved):
        attack = PGD(eps=eps, steps=steps, step_size=eps / 4, norm=norm, restarts=restarts, bounds=bounds, seed=seed)
        adversarial = attack(model, x[proved], y[proved]).numpy()
        logits = as_logits(model)(tf.convert_to_tensor(adversarial)).numpy()
        broken_proofs = proved[np.argmax(logits, axis=1) != y[proved]]
    false = _false_counterexamples(model, x, y, eps, bounds, exact) if exact is not None else np.array([], int)
    return VerificationCheck(len(proved), broken_proofs, false)

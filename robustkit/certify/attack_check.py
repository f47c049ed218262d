"""A trust check on certificates: an attack on the smoothed classifier must never break an example
inside its certified radius.

PGD attacks the smoothed classifier through its expectation over noise (Salman et al., 2019: each
gradient averaged over noisy copies, as expectation over transformation does), at an L2 radius
just inside each example's certificate; PREDICT then decides the smoothed class of the point it
found. Where PREDICT gives another class (not an abstention) to a point inside the certified ball,
the certificate and the attack contradict each other: something is wrong (the noise, the counts,
the bound or the model's determinism), and the report must say so loudly. By chance alone this
happens with probability at most about ``2 alpha`` per example (one certificate and one PREDICT).

Example:
    >>> import keras, numpy as np
    >>> from robustkit.certify import certify
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    >>> x = np.array([[0.6, 0.5], [0.3, 0.5]], "float32")
    >>> result = certify(model, x, sigma=0.25, n=2000, seed=0)
    >>> check = attack_certificates(model, x, result, steps=10, samples=8, n=2000, seed=0)
    >>> check.checked, check.contradictions
    (2, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from robustkit.attacks import PGD
from robustkit.certify.smoothing import ABSTAIN, SmoothingResult, predict


@dataclass
class CertificateCheck:
    """What the attack found against the certificates."""

    checked: int  # examples with a certificate > 0 that were attacked
    contradictions: int  # of those, points inside the certified ball that PREDICT gives another class
    indices: np.ndarray  # which examples contradict their certificate
    inside: float  # the attack's radius as a share of each certified radius

    @property
    def passed(self) -> bool:
        return self.contradictions == 0


class _Noisy(keras.layers.Layer):
    """Adds Gaussian noise at every call, also in inference (the smoothed classifier's randomness)."""

    def __init__(self, sigma: float, seed: int):
        super().__init__()
        self.sigma, self.generator = sigma, keras.random.SeedGenerator(seed)

    def call(self, x):
        return x + keras.random.normal(keras.ops.shape(x), stddev=self.sigma, seed=self.generator, dtype=x.dtype)


def attack_certificates(
    model: Any,
    x: Any,
    result: SmoothingResult,
    *,
    inside: float = 0.95,
    steps: int = 20,
    samples: int = 16,
    n: int = 10_000,
    bounds: Any = (0.0, 1.0),
    seed: int = 0,
) -> CertificateCheck:
    """Attack each certified example of ``result`` at ``inside`` times its certified L2 radius (see the module
    docstring).

    Args:
        model, x: the base classifier and the examples ``result`` certified.
        result: :func:`~robustkit.certify.certify`'s answer.
        inside: the share of each certified radius the attack may move.
        steps: PGD steps on the smoothed classifier.
        samples: noisy passes per gradient.
        n: samples for PREDICT at the points found.
        bounds, seed: the inputs' range and the seed.
    """
    x = np.asarray(x)
    rows = np.flatnonzero((result.prediction != ABSTAIN) & (result.radius > 0))
    if not len(rows):
        return CertificateCheck(0, 0, rows, inside)
    noisy = keras.Sequential([keras.Input(x.shape[1:]), _Noisy(result.sigma, seed), model])
    found = np.array(x[rows])
    # One attack per radius, each radius rounded down to a hundredth of sigma: the point stays inside its ball.
    grid = np.floor(result.radius[rows] / (0.01 * result.sigma)) * (0.01 * result.sigma)
    for radius in np.unique(grid[grid > 0]):
        same = np.flatnonzero(grid == radius)
        attack = PGD(eps=float(radius) * inside, norm="l2", steps=steps, eot=samples, bounds=bounds, seed=seed)
        found[same] = attack(noisy, x[rows][same], result.prediction[rows][same]).numpy()
    smoothed = predict(model, found, result.sigma, n, result.alpha, seed=seed + 1, index=rows)
    wrong = (smoothed != ABSTAIN) & (smoothed != result.prediction[rows])
    return CertificateCheck(len(rows), int(wrong.sum()), rows[wrong], inside)

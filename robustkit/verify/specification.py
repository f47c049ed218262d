"""What a verifier proves: every input in a box keeps the outputs out of an unsafe set of linear constraints.

A :class:`Specification` holds a box of inputs (any lower and upper value per feature, not only an
eps-ball) and the unsafe set as a disjunction of clauses, each a conjunction of linear rows on the
outputs ``y``: clause ``i`` is ``A_i y <= b_i`` row by row. The property holds when no input in the box
puts the outputs in any clause. A clause is ruled out when one of its rows is proved positive,
``A_r y - b_r > 0``, for every input: the rows are what bound propagation bounds from below. A
counterexample is an input in the box whose outputs satisfy every row of one clause.

Robustness of an example with label ``c`` is one case (:func:`robustness_specification`): one clause per
other class ``j``, ``y_c - y_j <= 0``. VNN-LIB files (:mod:`robustkit.verify.vnnlib`) give any other.

Example:
    >>> import numpy as np
    >>> spec = robustness_specification(np.array([0.5, 0.5], "float32"), 0.1, label=1, classes=3)
    >>> [clause.matrix.tolist() for clause in spec.clauses][0], spec.lower.tolist()
    ([[-1.0, 1.0, 0.0]], [0.4, 0.4])
    >>> spec.violated(np.array([[2.0, 1.0, 0.0]])).tolist()  # class 0 beats class 1: clause 0 holds
    [True]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustkit.errors import ConfigError


@dataclass(frozen=True)
class Clause:
    """One conjunction of the unsafe set: ``matrix @ y <= offset``, every row."""

    matrix: np.ndarray  # (rows, outputs)
    offset: np.ndarray  # (rows,)

    def satisfied(self, outputs: np.ndarray) -> np.ndarray:
        """Per row of ``outputs`` (shape ``(n, outputs)``): whether every constraint of the clause holds."""
        return np.all(np.asarray(outputs) @ self.matrix.T - self.offset <= 0, axis=-1)


@dataclass(frozen=True)
class Specification:
    """A box of inputs (``lower`` and ``upper``, float64, of one example's shape) and the unsafe clauses."""

    lower: np.ndarray
    upper: np.ndarray
    clauses: tuple[Clause, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "lower", np.asarray(self.lower, np.float64))
        object.__setattr__(self, "upper", np.asarray(self.upper, np.float64))
        if self.lower.shape != self.upper.shape:
            raise ConfigError(f"The box's corners differ in shape: {self.lower.shape} and {self.upper.shape}.")
        if not (np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper))):
            raise ConfigError("The input box must be finite: give every input a lower and an upper bound.")
        if np.any(self.lower > self.upper):
            raise ConfigError("The input box is empty: some lower bound exceeds its upper bound.")
        if not self.clauses:
            raise ConfigError("The specification has no unsafe clause: there is nothing to prove.")

    @property
    def outputs(self) -> int:
        return int(self.clauses[0].matrix.shape[1])

    def violated(self, outputs: np.ndarray) -> np.ndarray:
        """Per row of ``outputs``: whether it lies in the unsafe set (some clause holds)."""
        return np.any([clause.satisfied(outputs) for clause in self.clauses], axis=0)

    def contains(self, x: np.ndarray) -> bool:
        """Whether the input ``x`` (one example) lies in the box, compared in float64."""
        x = np.asarray(x, np.float64)
        return bool(np.all(x >= self.lower) and np.all(x <= self.upper))

    def outer_box(self, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
        """The box in ``dtype``, rounded outward (it holds the true box: what a proof must cover)."""
        low, high = self.lower.astype(dtype), self.upper.astype(dtype)
        low = np.where(low > self.lower, np.nextafter(low, dtype(-np.inf)), low)
        return low, np.where(high < self.upper, np.nextafter(high, dtype(np.inf)), high)

    def inner_box(self, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
        """The box in ``dtype``, rounded inward (inside the true box: where a counterexample may lie)."""
        low, high = self.lower.astype(dtype), self.upper.astype(dtype)
        low = np.where(low < self.lower, np.nextafter(low, dtype(np.inf)), low)
        return low, np.where(high > self.upper, np.nextafter(high, dtype(-np.inf)), high)


def robustness_specification(
    x: np.ndarray, eps: float, label: int, classes: int, bounds: tuple[float, float] = (0.0, 1.0)
) -> Specification:
    """The L-inf ball of radius ``eps`` around ``x`` within ``bounds``, unsafe where another class's
    output reaches ``label``'s: one clause ``y_label - y_j <= 0`` per class ``j``."""
    if eps < 0:
        raise ConfigError(f"eps must be >= 0, got {eps}.")
    if not 0 <= label < classes:
        raise ConfigError(f"label {label} is outside the {classes} classes.")
    x = np.asarray(x, np.float64)
    lower, upper = np.maximum(x - eps, bounds[0]), np.minimum(x + eps, bounds[1])
    clauses = []
    for j in range(classes):
        if j != label:
            row = np.zeros((1, classes))
            row[0, label], row[0, j] = 1.0, -1.0
            clauses.append(Clause(row, np.zeros(1)))
    return Specification(lower, upper, tuple(clauses))

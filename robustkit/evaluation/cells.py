"""An attack sweep's cells: what each (model, attack, eps) step found, kept in the one cell store
(:mod:`robustkit.evaluation.cell_store`), so that a killed run resumes where it stopped and gives the
same numbers.

Example:
    >>> cell_seed(0, "digits-cnn", "linf", "pgd-20", 0.1) == cell_seed(0, "digits-cnn", "linf", "pgd-20", 0.1)
    True
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustkit.evaluation.cell_store import StoredCell

NO_GRADIENT = "no-gradient"  # a cell's note: the attack could not run, the model has no input gradient


@dataclass
class Cell(StoredCell):
    """What one (model, attack, eps) step of a sweep attacked and found."""

    indices: np.ndarray  # the examples attacked (the survivors of the smaller eps)
    success: np.ndarray
    adv_pred: np.ndarray
    norms: np.ndarray
    grad_evals: np.ndarray
    seconds: float
    sample_indices: np.ndarray  # a few broken examples kept for the report's images
    sample_x_adv: np.ndarray
    note: str = ""  # "no-gradient": the attack could not run (the model has no input gradient)

    @staticmethod
    def empty(example_shape: tuple, dtype: Any, indices: np.ndarray | None = None, note: str = "") -> Cell:
        """A cell that broke nothing: nothing was left to attack, or (``note``) the attack could not run."""
        none = np.zeros(0)
        indices = none.astype(np.int64) if indices is None else indices
        n = len(indices)
        return Cell(
            indices,
            np.zeros(n, bool),
            np.full(n, -1, np.int32),
            np.full(n, np.nan),
            np.zeros(n, np.int32),
            0.0,
            none.astype(np.int64),
            np.zeros((0,) + tuple(example_shape), dtype),
            note,
        )


def cell_seed(seed: int, *parts: Any) -> int:
    """A seed per cell, stable across processes (so resumed runs match uninterrupted ones)."""
    return (seed * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % (2**31 - 1)

"""The cell store: what each (model, attack, eps) step of a sweep found, one atomic file per cell.

A run killed at any moment (even ``kill -9``) leaves only complete cells, so the next run resumes
where it stopped and gives the same numbers.

Example:
    >>> cell_seed(0, "digits-cnn", "linf", "pgd-20", 0.1) == cell_seed(0, "digits-cnn", "linf", "pgd-20", 0.1)
    True
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustkit.files import atomic_path

NO_GRADIENT = "no-gradient"  # a cell's note: the attack could not run, the model has no input gradient


@dataclass
class Cell:
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

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the complete new one, never a part."""
        with atomic_path(path) as tmp:
            arrays: dict[str, Any] = {k: np.asarray(v) for k, v in self.__dict__.items()}
            np.savez(tmp, **arrays)

    @staticmethod
    def load(path: Path) -> Cell | None:
        """The saved cell, or None when it is missing or unreadable (it is then recomputed)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                values = {k: data[k] for k in data.files}
            values["seconds"] = float(values["seconds"])
            values["note"] = str(values["note"])
            return Cell(**values)
        except Exception:
            return None


def cell_seed(seed: int, *parts: Any) -> int:
    """A seed per cell, stable across processes (so resumed runs match uninterrupted ones)."""
    return (seed * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % (2**31 - 1)

"""The one cell store: what a unit of work found, saved as one ``.npz`` file, atomically, under a key.

Every kind of evaluation keeps its cells this way (an attack's step of a sweep, a sigma's
certificates, an eps's proofs, a corruption's predictions). A cell is a dataclass of arrays and
numbers; :meth:`StoredCell.save` writes it so that a reader sees the old file or the complete new
one, never a part (a run killed at any moment, even by ``kill -9``, leaves only complete cells), and
:func:`load_or_compute` gives the saved cell, or computes and saves it. The file's path is the
cell's key: the run folder names the model's fingerprint, the suite, the method and the shard, so
that the next run resumes where one stopped and any sharding finds the same cells.

Example:
    >>> import tempfile, numpy as np
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Answer(StoredCell):
    ...     prediction: np.ndarray
    ...     seconds: float
    >>> path = Path(tempfile.mkdtemp()) / "answer.npz"
    >>> load_or_compute(Answer, path, 2, lambda: Answer(np.array([3, 1]), 0.5))[1]  # computed
    True
    >>> cell, computed = load_or_compute(Answer, path, 2, lambda: Answer(np.array([0, 0]), 9.0))
    >>> cell.prediction.tolist(), cell.seconds, computed  # read back, not computed again
    ([3, 1], 0.5, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from robustkit.files import atomic_path

StoredT = TypeVar("StoredT", bound="StoredCell")
_SCALARS: dict[str, Callable[[Any], Any]] = {"float": float, "str": str, "int": int}


class StoredCell:
    """A dataclass of arrays and scalars (``float``, ``int``, ``str`` fields) kept as one ``.npz`` file; its
    first field holds one entry per example of the shard."""

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the complete new one, never a part."""
        with atomic_path(path) as tmp:
            np.savez(tmp, **{f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)})  # type: ignore[arg-type]

    @classmethod
    def load(cls: type[StoredT], path: Path, n: int | None = None) -> StoredT | None:
        """The saved cell, or None when it is missing, unreadable, lacks a field or holds another number of
        examples than ``n`` (then it is computed again)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                values = {f.name: _scalar(f.type)(data[f.name]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        except Exception:
            return None
        cell = cls(**values)
        first = dataclasses.fields(cls)[0].name  # type: ignore[arg-type]
        return cell if n is None or len(values[first]) == n else None


def _same(value: np.ndarray) -> np.ndarray:
    return value


def _scalar(annotation: Any) -> Callable[[Any], Any]:
    """How a field is read back: a scalar by its annotation (a string under postponed annotations), else as saved."""
    return _SCALARS.get(annotation if isinstance(annotation, str) else getattr(annotation, "__name__", ""), _same)


def load_or_compute(cls: type[StoredT], path: Path, n: int, compute: Callable[[], StoredT]) -> tuple[StoredT, bool]:
    """The cell saved at ``path`` for ``n`` examples, or ``compute()`` saved there; and whether it was computed."""
    cell = cls.load(path, n)
    if cell is not None:
        return cell, False
    cell = compute()
    cell.save(path)
    return cell, True

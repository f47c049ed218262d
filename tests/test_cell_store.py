"""The one cell store (robustkit/evaluation/cell_store.py): every kind's cells are read and written there,
atomically; a missing, broken or mis-sized file is computed again, never trusted."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import robustkit.evaluation
from robustkit.evaluation.cell_store import StoredCell, load_or_compute


@dataclass
class Answer(StoredCell):
    prediction: np.ndarray
    seconds: float
    note: str = ""


def _computing(value: int, calls: list):
    def compute() -> Answer:
        calls.append(value)
        return Answer(np.full(3, value), float(value), f"run {value}")

    return compute


def test_a_saved_cell_is_read_back_with_its_scalars_and_not_computed_again(tmp_path):
    calls: list = []
    path = tmp_path / "shard-0" / "answer.npz"
    first, computed = load_or_compute(Answer, path, 3, _computing(1, calls))
    again, computed_again = load_or_compute(Answer, path, 3, _computing(2, calls))
    assert computed and not computed_again and calls == [1]
    assert again.prediction.tolist() == [1, 1, 1] and again.seconds == 1.0 and again.note == "run 1"
    assert isinstance(again.seconds, float) and isinstance(again.note, str)


def test_a_broken_or_mis_sized_cell_is_computed_again(tmp_path):
    calls: list = []
    path = tmp_path / "answer.npz"
    path.write_bytes(b"half a file")  # what no atomic write leaves, but a disk or a hand might
    assert load_or_compute(Answer, path, 3, _computing(1, calls))[1]
    assert load_or_compute(Answer, path, 4, _computing(2, calls))[0].prediction.tolist() == [2, 2, 2]
    np.savez(path, prediction=np.zeros(3))  # a field missing
    assert Answer.load(path, 3) is None and calls == [1, 2]


def test_no_kind_writes_cells_of_its_own():
    """Only the cell store writes .npz files in the evaluation package (and the report's example columns)."""
    package = Path(robustkit.evaluation.__file__).parent
    writers = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("savez", "savez_compressed", "atomic_path"):
                writers.add(path.name)
    assert writers == {"cell_store.py", "results_columns.py"}, writers

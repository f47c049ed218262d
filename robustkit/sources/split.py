"""One data set's train and test arrays, scaled to their bounds: what every loader returns.

Example:
    >>> import numpy as np
    >>> split = DataSplit("toy", None, None, np.zeros((3, 2), np.float32), np.array([0, 1, 1]), 2)
    >>> split.take(2).y_test, split.bounds
    (array([0, 1]), (0.0, 1.0))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustkit.errors import DataError

CHUNK = 65_536  # examples read at a time from data that may not fit in memory


@dataclass
class DataSplit:
    """Train and test arrays of one data set, scaled to ``bounds``."""

    name: str
    x_train: np.ndarray | None
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    bounds: tuple[Any, Any] = (0.0, 1.0)  # lower, upper: numbers, or arrays per channel or per feature
    info: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """SHA-256 of the test inputs and labels, to tie a report to its data (read in chunks)."""
        digest = hashlib.sha256()
        for start in range(0, len(self.x_test), CHUNK):
            digest.update(np.ascontiguousarray(self.x_test[start : start + CHUNK]).tobytes())
        digest.update(np.ascontiguousarray(self.y_test).astype(np.int64).tobytes())
        return digest.hexdigest()[:16]

    def take(self, n: int | None) -> DataSplit:
        """The same data with only the first ``n`` test examples (all when ``n`` is None)."""
        if n is None or n >= len(self.y_test):
            return self
        return DataSplit(
            self.name,
            self.x_train,
            self.y_train,
            self.x_test[:n],
            self.y_test[:n],
            self.num_classes,
            self.bounds,
            dict(self.info, limit=n),
        )


def from_tf_dataset(
    dataset: Any, name: str = "dataset", num_classes: int | None = None, bounds: tuple[float, float] = (0.0, 1.0)
) -> DataSplit:
    """Collect a (finite) ``tf.data.Dataset`` of ``(x, y)`` pairs or batches as test data."""
    xs, ys = [], []
    for element in dataset:
        x, y = element[0].numpy(), element[1].numpy()
        if y.ndim == 0:
            x, y = x[None], y[None]
        xs.append(x)
        ys.append(y)
    if not xs:
        raise DataError(f"The dataset {name!r} is empty.")
    x, y = np.concatenate(xs).astype(np.float32), np.concatenate(ys)
    if y.ndim == 2:
        y = np.argmax(y, axis=1)
    return DataSplit(
        name, None, None, x, y.astype(np.int64), num_classes or int(y.max()) + 1, bounds, {"source": "tf.data"}
    )

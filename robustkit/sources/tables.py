"""CSV and Parquet tables read through pandas, for tabular models.

One column holds the labels (``label`` by default; integers, or names that are numbered in sorted
order); the others, or the ``features`` given, are the inputs. Each feature's bounds are its
range in the table unless bounds are given.

Example:
    >>> import tempfile, pandas as pd
    >>> path = Path(tempfile.mkdtemp()) / "iris.csv"
    >>> pd.DataFrame({"width": [1.0, 3.0], "length": [2.0, 5.0], "label": ["b", "a"]}).to_csv(path, index=False)
    >>> table = load_table(path)
    >>> table.x_test.tolist(), table.y_test.tolist(), table.info["class_names"]
    ([[1.0, 2.0], [3.0, 5.0]], [1, 0], ['a', 'b'])
    >>> [bound.tolist() for bound in table.bounds]
    [[1.0, 2.0], [3.0, 5.0]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from robustkit.errors import DataError
from robustkit.sources.split import DataSplit

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise DataError(f"Table {str(path)!r} does not exist.") from None
    except ImportError as err:
        raise DataError(
            f"Reading {str(path)!r} needs a Parquet engine: pip install 'robustkit[tables]' ({err})."
        ) from err
    except Exception as err:
        raise DataError(f"Could not read the table {str(path)!r}: {err}") from err


def _labels(column: Any, path: Path, label: str) -> tuple[np.ndarray, list[str] | None]:
    if column.isna().any():
        raise DataError(f"The label column {label!r} of {str(path)!r} has empty cells; every row needs a label.")
    if is_numeric_dtype(column) and not is_bool_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        if np.all(np.mod(values, 1) == 0) and values.min() >= 0:
            return values.astype(np.int64), None
    values = column.to_numpy()
    names = sorted({str(v) for v in values})
    codes = {name: i for i, name in enumerate(names)}
    return np.array([codes[str(v)] for v in values], dtype=np.int64), names


def load_table(
    path: str | Path, label: str = "label", features: list[str] | None = None, bounds: tuple[Any, Any] | None = None
) -> DataSplit:
    """A CSV or Parquet table as test data: one row an example, ``label`` its class.

    Args:
        path: a ``.csv`` or ``.parquet`` file.
        label: the column of the classes (integers, or values numbered in sorted order).
        features: the input columns, in order (default: every numeric column but the label).
        bounds: ``(lower, upper)``, numbers or one value per feature (default: each column's range).
    """
    path = Path(path)
    frame = _read(path)
    if label not in frame.columns:
        raise DataError(
            f"{str(path)!r} has no label column {label!r}; its columns are {list(frame.columns)}. "
            "Name the label column (e.g. data = 'table.csv?label=species')."
        )
    features = features or [c for c in frame.columns if c != label]
    unknown = [f for f in features if f not in frame.columns]
    if unknown:
        raise DataError(f"{str(path)!r} has no feature column(s) {unknown}; its columns are {list(frame.columns)}.")
    inputs = frame[features]
    not_numeric = [c for c in features if not is_numeric_dtype(inputs[c]) or is_bool_dtype(inputs[c])]
    if not_numeric:
        raise DataError(
            f"Feature column(s) {not_numeric} of {str(path)!r} are not numeric; encode them as numbers first "
            "(attacks move features continuously)."
        )
    x = inputs.to_numpy(dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{str(path)!r} has empty, NaN or Inf feature values; impute or drop those rows.")
    y, names = _labels(frame[label], path, label)
    if bounds is None:
        lower = x.min(axis=0).astype(np.float64)
        upper = x.max(axis=0).astype(np.float64)
        upper = np.where(upper > lower, upper, lower + np.maximum(1e-6, 1e-6 * np.abs(lower)))  # constant columns
        bounds = (lower, upper)
    classes = len(names) if names else int(y.max(initial=0)) + 1
    info: dict = {"source": str(path), "features": features, "label": label}
    if names:
        info["class_names"] = names
    return DataSplit(path.stem, None, None, x, y, classes, bounds, info)

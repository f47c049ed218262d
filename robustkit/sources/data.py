"""Data sets: the embedded digits default, ``.npz`` files, ``tf.data`` and Keras's own sets.

Every loader returns a :class:`DataSplit` whose inputs are float32 in the stated bounds, with a
channel axis, and integer labels.

Example:
    >>> digits = load_digits_split()
    >>> digits.x_test.shape, digits.bounds
    ((360, 8, 8, 1), (0.0, 1.0))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robustkit.errors import DataError
from robustkit.sources.folders import load_image_folder
from robustkit.sources.pipelines import load_factory, load_tfds
from robustkit.sources.split import CHUNK, DataSplit, from_tf_dataset
from robustkit.sources.tables import load_table

__all__ = [
    "CHUNK",
    "DATA_SPECS",
    "KERAS_DATASETS",
    "DataSplit",
    "NpyOnDisk",
    "from_tf_dataset",
    "load_array_folder",
    "load_data",
    "load_digits_split",
    "load_keras_dataset",
    "load_npz",
    "spec_options",
]

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> DataSplit:
    """scikit-learn's 1797 handwritten 8x8 digits, scaled from [0, 16] to [0, 1].

    Args:
        seed: fixes the stratified split.
        test_fraction: the share of the digits held out for testing (360 of 1797 by default).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return DataSplit(
        "digits",
        x_train,
        y_train,
        x_test,
        y_test,
        10,
        (0.0, 1.0),
        {"source": "sklearn.datasets.load_digits", "split_seed": seed},
    )


def _scaled_images(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def load_keras_dataset(name: str) -> DataSplit:
    """Load ``mnist``, ``fashion_mnist`` or ``cifar10`` through ``keras.datasets`` (downloads once)."""
    import keras

    if name not in KERAS_DATASETS:
        raise DataError(f"Unknown Keras data set {name!r}; choose one of {', '.join(KERAS_DATASETS)}.")
    module = getattr(keras.datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as err:  # network or cache problems surface here
        raise DataError(
            f"Could not load keras.datasets.{name}: {err}. It is downloaded on first use, so this "
            "needs network access once (or a copy in ~/.keras/datasets)."
        ) from err
    return DataSplit(
        name,
        _scaled_images(x_train),
        y_train.reshape(-1).astype(np.int64),
        _scaled_images(x_test),
        y_test.reshape(-1).astype(np.int64),
        10,
        (0.0, 1.0),
        {"source": f"keras.datasets.{name}"},
    )


def _npz_bounds(arrays: dict, path: Path) -> tuple[Any, Any] | None:
    """The optional ``bounds`` array of an ``.npz``: shape (2,) or (2, channels) or (2, *example shape)."""
    if "bounds" not in arrays:
        return None
    bounds = np.asarray(arrays["bounds"], dtype=np.float64)
    if bounds.ndim == 0 or bounds.shape[0] != 2:
        raise DataError(
            f"'bounds' in {str(path)!r} has shape {bounds.shape}; it must stack [lower, upper]: shape (2,), "
            "(2, channels) or (2, *one example's shape)."
        )
    lower, upper = bounds[0], bounds[1]
    return (float(lower) if lower.ndim == 0 else lower), (float(upper) if upper.ndim == 0 else upper)


def load_npz(path: str | Path, bounds: tuple[Any, Any] | None = None) -> DataSplit:
    """Load test data from an ``.npz`` file with arrays ``x`` and ``y``.

    Optional arrays: ``x_train`` / ``y_train``, and ``bounds`` (``[lower, upper]``, each a number,
    one value per channel or one per feature) giving the range the model reads. Without it, the
    bounds are ``bounds`` if given, else [0, 255] for 8-bit integer images and [0, 1] otherwise.
    Whether ``x`` lies inside the bounds in force is checked where they are known (the runner).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise DataError(f"Data file {str(path)!r} does not exist.") from None
    except Exception as err:
        raise DataError(f"Could not read {str(path)!r} as an .npz file: {err}") from err
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise DataError(
            f"{str(path)!r} lacks the array(s) {missing}; it needs 'x' (inputs) and 'y' (integer labels). "
            f"It has {sorted(arrays)}."
        )
    x, y = arrays["x"], arrays["y"]
    is_bytes = x.dtype == np.uint8
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"'x' in {str(path)!r} has dtype {x.dtype}; store numbers (floats, or 8-bit pixels).")
    if y.ndim == 2:
        y = np.argmax(y, axis=1)
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1 or len(y) != len(x):
        raise DataError(
            f"'y' in {str(path)!r} must be {len(x)} integer labels, got shape {y.shape} and dtype {y.dtype}."
        )
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise DataError(f"'x' in {str(path)!r} contains NaN or Inf.")
    bounds = bounds or _npz_bounds(arrays, path) or ((0.0, 255.0) if is_bytes else (0.0, 1.0))
    classes = int(max(y.max(initial=0), arrays.get("y_train", np.zeros(1, int)).max(initial=0))) + 1
    x_train = arrays.get("x_train")
    return DataSplit(
        path.stem,
        None if x_train is None else x_train.astype(np.float32, copy=False),
        arrays.get("y_train"),
        x,
        y.astype(np.int64),
        classes,
        bounds,
        {"source": str(path)},
    )


class NpyOnDisk:
    """A ``.npy`` array read from its file a slice at a time.

    Not memory-mapped: pages of a mapped file that were read stay in the process's resident
    memory, so a pass over a large memory-mapped array would grow the process by the array's
    size. Here only what a slice reads is in memory, and only while it is used.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.npy"
        >>> np.save(path, np.arange(12, dtype="float32").reshape(6, 2))
        >>> x = NpyOnDisk(path)
        >>> len(x), x.shape, x[1:3].tolist(), x[5].tolist(), x[np.array([0, 4])].tolist()
        (6, (6, 2), [[2.0, 3.0], [4.0, 5.0]], [10.0, 11.0], [[0.0, 1.0], [8.0, 9.0]])
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = reader(handle)
            self.offset = handle.tell()
        if fortran_order or not shape:
            raise DataError(f"{str(self.path)!r} must hold a C-ordered array with one row per example.")
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self._row = int(np.prod(self.shape[1:], dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, start: int, stop: int) -> np.ndarray:
        count = max(stop - start, 0)
        flat = np.fromfile(
            self.path, self.dtype, count=count * self._row, offset=self.offset + start * self._row * self.dtype.itemsize
        )
        return flat.reshape((count, *self.shape[1:]))

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            rows = self._rows(start, stop) if step > 0 else self._rows(stop + 1, start + 1)[::-1]
            return rows[:: abs(step)] if abs(step) != 1 else rows
        if isinstance(key, (int, np.integer)):
            index = int(key) + (len(self) if key < 0 else 0)
            return self._rows(index, index + 1)[0]
        indices = np.asarray(key)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        return np.stack([self._rows(int(i), int(i) + 1)[0] for i in indices]) if len(indices) else self._rows(0, 0)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self._rows(0, len(self))
        return whole if dtype is None else whole.astype(dtype)


def load_array_folder(folder: str | Path) -> DataSplit:
    """A folder with ``x.npy`` and ``y.npy`` (and optionally ``bounds.npy``), read from disk as needed.

    The inputs stay on disk (:class:`NpyOnDisk`): the runner reads them a shard at a time, so
    data far larger than memory can be evaluated. Write them with ``np.save`` or
    ``np.lib.format.open_memmap``.
    """
    folder = Path(folder)
    try:
        x = NpyOnDisk(folder / "x.npy")
        y = np.load(folder / "y.npy")
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"Could not read x.npy and y.npy in {str(folder)!r}: {err}") from err
    if x.dtype != np.float32:
        raise DataError(f"x.npy in {str(folder)!r} has dtype {x.dtype}; store float32 inputs (x.astype('float32')).")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"y.npy in {str(folder)!r} must hold {len(x)} integer labels, got {y.shape} {y.dtype}.")
    bounds_file = folder / "bounds.npy"
    bounds = _npz_bounds({"bounds": np.load(bounds_file)}, folder) if bounds_file.exists() else None
    info = {"source": str(folder), "read_from_disk": True}
    classes = int(y.max(initial=0)) + 1
    return DataSplit(folder.name, None, None, x, y.astype(np.int64), classes, bounds or (0.0, 1.0), info)  # type: ignore[arg-type]


def spec_options(spec: str) -> tuple[str, dict[str, str]]:
    """A data or model spec and its options after ``?``.

    Example:
        >>> spec_options("table.csv?label=species")
        ('table.csv', {'label': 'species'})
    """
    from urllib.parse import parse_qsl

    base, _, query = spec.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


DATA_SPECS = (
    "'digits' (embedded), an .npz file with 'x' and 'y', a folder with x.npy and y.npy (read as needed), "
    "an image folder with one subfolder per class, "
    "a .csv or .parquet table (?label=COLUMN), package.module:function returning a tf.data.Dataset, "
    "tfds:NAME (?data_dir=PATH&split=test) or " + ", ".join("keras:" + n for n in KERAS_DATASETS)
)


def load_data(spec: str) -> DataSplit:
    """Load data by spec: see :data:`DATA_SPECS` for every kind."""
    base, options = spec_options(spec)
    if base == "digits":
        return load_digits_split()
    if base.startswith("keras:"):
        return load_keras_dataset(base.split(":", 1)[1])
    if base in KERAS_DATASETS:
        return load_keras_dataset(base)
    if base.startswith("tfds:"):
        return load_tfds(base[5:], options.get("data_dir"), options.get("split", "test"))
    path = Path(base)
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix.lower() in (".csv", ".parquet", ".pq"):
        features = options.get("features")
        return load_table(path, options.get("label", "label"), features.split(",") if features else None)
    if path.is_dir() and (path / "x.npy").exists():
        return load_array_folder(path)
    if path.is_dir():
        size = options.get("size")
        return load_image_folder(path, _size(size) if size else None)
    if ":" in base and not path.exists():
        return load_factory(base)
    if path.exists():
        return load_npz(path)
    raise DataError(f"Unknown data {spec!r}: use {DATA_SPECS}.")


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise DataError(f"size={text!r}: write the image size as HEIGHTxWIDTH, e.g. size=224x224.") from None
    return height, width

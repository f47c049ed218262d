"""Data from pipelines: a ``tf.data.Dataset`` made by the user's ``module:function``, and TensorFlow
Datasets read from a local copy (``tfds:NAME``; nothing is downloaded).

Example:
    >>> import tensorflow as tf
    >>> data = from_factory_result(tf.data.Dataset.from_tensor_slices(([[0.5, 0.25]], [1])), "demo:make")
    >>> data.x_test.tolist(), data.y_test.tolist()
    ([[0.5, 0.25]], [1])
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from robustkit.errors import DataError
from robustkit.sources.factories import call_factory
from robustkit.sources.split import DataSplit, from_tf_dataset


def from_factory_result(result: Any, spec: str) -> DataSplit:
    """What a data factory returned: a DataSplit, a ``tf.data.Dataset`` of ``(x, y)``, or a pair of arrays."""
    import tensorflow as tf

    if isinstance(result, DataSplit):
        return result
    if isinstance(result, tf.data.Dataset):
        return from_tf_dataset(result, name=spec.split(":", 1)[1])
    if isinstance(result, tuple) and len(result) == 2:
        x, y = (np.asarray(part) for part in result)
        return DataSplit(spec.split(":", 1)[1], None, None, x.astype(np.float32), y.astype(np.int64), int(y.max()) + 1)
    raise DataError(
        f"The data factory {spec!r} returned {type(result).__name__}; return a tf.data.Dataset of (x, y) "
        "pairs or batches, or a pair of arrays (x, y)."
    )


def load_factory(spec: str) -> DataSplit:
    """Call ``package.module:function`` (no arguments) and read what it returns as test data."""
    return from_factory_result(call_factory(spec, DataError), spec)


def _feature_keys(info: Any, name: str) -> tuple[str, str]:
    """The input and label keys of a TFDS data set: its supervised keys, else its image and class-label features."""
    if info.supervised_keys:
        keys = info.supervised_keys
        return str(keys[0]), str(keys[1])
    import tensorflow_datasets as tfds

    features = info.features
    labels = [k for k, v in features.items() if isinstance(v, tfds.features.ClassLabel)]
    inputs = [
        k
        for k, v in features.items()
        if isinstance(v, (tfds.features.Image, tfds.features.Tensor)) and k not in labels  # ClassLabel is a Tensor
    ]
    if len(labels) != 1 or len(inputs) != 1:
        raise DataError(
            f"TFDS data set {name!r} has features {sorted(features.keys())}; "
            "robustkit needs one input and one class label."
        )
    return inputs[0], labels[0]


def load_tfds(name: str, data_dir: str | None = None, split: str = "test") -> DataSplit:
    """A TensorFlow Datasets set from a local copy in ``data_dir`` (default ``$TFDS_DATA_DIR``).

    Images are kept in their stored range ([0, 255] for ``uint8``).
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise DataError(f"tfds:{name} needs TensorFlow Datasets: pip install 'robustkit[tfds]' ({err}).") from err
    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")
    try:
        dataset, info = tfds.load(name, split=split, data_dir=data_dir, download=False, with_info=True)
    except Exception as err:
        raise DataError(
            f"No local copy of the TFDS data set {name!r} (split {split!r}) in {data_dir or 'the default data dir'}: "
            f"{err}. robustkit never downloads: prepare it once with tfds.builder({name!r}).download_and_prepare() "
            "and pass its data_dir (tfds:NAME?data_dir=PATH or $TFDS_DATA_DIR)."
        ) from err
    input_key, label_key = _feature_keys(info, name)
    pairs = dataset.map(lambda example: (example[input_key], example[label_key])).batch(1024)
    is_bytes = getattr(info.features[input_key], "dtype", None) in ("uint8", np.uint8) or "uint8" in str(
        getattr(info.features[input_key], "dtype", "")
    )
    classes = int(info.features[label_key].num_classes)
    bounds = (0.0, 255.0) if is_bytes else (0.0, 1.0)
    split_data = from_tf_dataset(pairs, name=name, num_classes=classes, bounds=bounds)
    split_data.info = {"source": f"tfds:{name}", "split": split, "data_dir": data_dir}
    return split_data

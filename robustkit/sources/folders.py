"""Image folders with one subfolder per class, read with Keras's own directory loader.

The images keep their pixel values, [0, 255], and their size when all images share one (else give
``image_size``). Classes are the subfolder names in sorted order, as Keras numbers them.

Example:
    >>> import tempfile, numpy as np, keras
    >>> root = Path(tempfile.mkdtemp())
    >>> for label in ("cat", "dog"):
    ...     (root / label).mkdir()
    ...     keras.utils.save_img(root / label / "a.png", np.full((6, 4, 3), 80, "uint8"))
    >>> data = load_image_folder(root)
    >>> data.x_test.shape, data.y_test.tolist(), data.bounds, data.info["class_names"]
    ((2, 6, 4, 3), [0, 1], (0.0, 255.0), ['cat', 'dog'])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robustkit.errors import DataError
from robustkit.sources.data import DataSplit

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _first_image(root: Path) -> Path:
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return path
    raise DataError(f"The folder {str(root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}) in its class subfolders.")


def _image_shape(path: Path) -> tuple[int, int, int]:
    import tensorflow as tf

    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), expand_animations=False)
    except Exception as err:
        raise DataError(f"Could not read the image {str(path)!r}: {err}") from err
    height, width, channels = image.shape
    return int(height), int(width), int(channels)


def load_image_folder(root: str | Path, image_size: tuple[int, int] | None = None, batch_size: int = 256) -> DataSplit:
    """Every image under ``root/<class>/`` as test data in [0, 255], labelled by its subfolder."""
    import keras

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Image folder {str(root)!r} does not exist.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"The folder {str(root)!r} has no class subfolders; put each class's images in root/<class>/.")
    height, width, channels = _image_shape(_first_image(root))
    size = image_size or (height, width)
    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(channels, "rgb")
    try:
        dataset = keras.utils.image_dataset_from_directory(
            root,
            labels="inferred",
            label_mode="int",
            class_names=classes,
            color_mode=color_mode,
            image_size=size,
            batch_size=batch_size,
            shuffle=False,
            verbose=False,
        )
    except Exception as err:
        raise DataError(f"Could not read the image folder {str(root)!r}: {err}") from err
    xs, ys = [], []
    for x, y in dataset:
        if image_size is None and x.shape[1:3] != (height, width):  # pragma: no cover - Keras resizes, we check
            raise DataError(f"Images in {str(root)!r} differ in size; give image_size to resize them.")
        xs.append(x.numpy())
        ys.append(y.numpy())
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int64)
    info = {"source": str(root), "class_names": classes, "image_size": list(size)}
    return DataSplit(root.name, None, None, x, y, len(classes), (0.0, 255.0), info)

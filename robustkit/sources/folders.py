"""Image folders with one subfolder per class.

The images keep their pixel values, [0, 255], and their size when all images share one; when they
differ (or ``image_size`` is given) every image is resized, and a warning says to which size.
Classes are the subfolder names in sorted order, as Keras numbers them; the names travel with the
data so that reports show them. A file that is not an image is skipped with a warning; an image that
cannot be decoded is an error that names it.

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

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from robustkit.errors import DataError, RobustkitWarning
from robustkit.sources.split import DataSplit

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
LISTED = 5  # file names a message quotes before it says "and N more"


def _listing(paths: list[str]) -> str:
    shown = ", ".join(paths[:LISTED])
    return shown if len(paths) <= LISTED else f"{shown} and {len(paths) - LISTED} more"


def _class_files(root: Path, classes: list[str]) -> tuple[list[tuple[Path, int]], list[str]]:
    """Every image file with its class index, and the names of the other files (skipped)."""
    images, skipped = [], []
    for index, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            if path.suffix.lower() in IMAGE_SUFFIXES:
                images.append((path, index))
            else:
                skipped.append(str(path.relative_to(root)))
    return images, skipped


def _decode(paths: list[Path], root: Path) -> list[np.ndarray]:
    import tensorflow as tf

    decoded, unreadable = [], []
    for path in paths:
        try:
            image = tf.io.decode_image(tf.io.read_file(str(path)), expand_animations=False)
        except (tf.errors.OpError, ValueError) as err:
            reason = str(getattr(err, "message", err)).strip().splitlines()[0]
            unreadable.append(f"{path.relative_to(root)} ({reason})")
            continue
        decoded.append(image.numpy())
    if unreadable:
        raise DataError(
            f"{len(unreadable)} file(s) in the image folder {str(root)!r} cannot be read as images: "
            f"{_listing(unreadable)}. Re-save them as PNG, JPEG, BMP or GIF, or move them out of the class "
            "subfolders."
        )
    return decoded


def _common_shape(images: list[np.ndarray], image_size: tuple[int, int] | None, root: Path) -> tuple[int, int, int]:
    """The (height, width, channels) every image is brought to; warns when that changes images."""
    sizes = Counter(image.shape[:2] for image in images)
    channels = Counter(image.shape[2] for image in images)
    height, width = image_size or sizes.most_common(1)[0][0]
    if image_size is None and len(sizes) > 1:
        found = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
        warnings.warn(
            f"Images in {str(root)!r} differ in size ({found}); all were resized to {height}x{width}, the most "
            "common size. Give image_size (--data 'folder?size=HxW') to choose the size.",
            RobustkitWarning,
            stacklevel=3,
        )
    depth = max(channels)
    if len(channels) > 1:
        warnings.warn(
            f"Images in {str(root)!r} differ in channels ({', '.join(map(str, sorted(channels)))}); all were "
            f"converted to {depth} channels.",
            RobustkitWarning,
            stacklevel=3,
        )
    return int(height), int(width), int(depth)


def _conform(image: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    import tensorflow as tf

    height, width, depth = shape
    pixels = image.astype(np.float32)
    if pixels.shape[2] != depth:
        gray = pixels[..., :1] if pixels.shape[2] <= 2 else pixels[..., :3].mean(axis=-1, keepdims=True)
        colour = pixels[..., :3] if pixels.shape[2] >= 3 else np.repeat(gray, 3, axis=-1)
        pixels = gray if depth == 1 else colour
        if depth == 4:
            pixels = np.concatenate([pixels, np.full((*pixels.shape[:2], 1), 255.0, np.float32)], axis=-1)
    if pixels.shape[:2] != (height, width):
        pixels = tf.image.resize(pixels, (height, width), method="bilinear").numpy()
    return np.clip(pixels, 0.0, 255.0)


def load_image_folder(root: str | Path, image_size: tuple[int, int] | None = None, batch_size: int = 256) -> DataSplit:
    """Every image under ``root/<class>/`` as test data in [0, 255], labelled by its subfolder.

    Args:
        root: the folder, one subfolder per class (classes numbered in sorted order).
        image_size: ``(height, width)`` to resize every image to (default: the most common size).
        batch_size: kept for callers of earlier versions; images are read one at a time.
    """
    del batch_size
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Image folder {str(root)!r} does not exist.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"The folder {str(root)!r} has no class subfolders; put each class's images in root/<class>/.")
    files, skipped = _class_files(root, classes)
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} file(s) in {str(root)!r} that are not images ({', '.join(IMAGE_SUFFIXES)}): "
            f"{_listing(skipped)}.",
            RobustkitWarning,
            stacklevel=2,
        )
    if not files:
        raise DataError(
            f"The folder {str(root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}) in its class subfolders."
        )
    images = _decode([path for path, _ in files], root)
    shape = _common_shape(images, image_size, root)
    x = np.stack([_conform(image, shape) for image in images]).astype(np.float32)
    y = np.array([label for _, label in files], dtype=np.int64)
    info = {"source": str(root), "class_names": classes, "image_size": list(shape[:2])}
    return DataSplit(root.name, None, None, x, y, len(classes), (0.0, 255.0), info)

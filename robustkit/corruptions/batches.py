"""Corrupting a data set: any image size, any input range, any float dtype, in compiled batches.

The corruption works in [0, 1]: the data are mapped there from their bounds, corrupted, and
mapped back to the bounds and the dtype (rounded values stepped back inside the bounds). Every
random draw is keyed by the seed, the corruption, the severity and the example's index in the
data set, so a corrupted data set is the same whatever the batch size or the split.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(0, 255, (6, 8, 8, 3)).astype(np.float32)
    >>> a = corrupt(x, "gaussian_noise", 3, bounds=(0, 255))
    >>> b = np.concatenate([corrupt(x[:2], "gaussian_noise", 3, bounds=(0, 255)),
    ...                     corrupt(x[2:], "gaussian_noise", 3, bounds=(0, 255), indices=range(2, 6))])
    >>> bool((a == b).all()), a.dtype, bool(a.min() >= 0 and a.max() <= 255)
    (True, dtype('float32'), True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.corruptions.constants import constants_for
from robustkit.corruptions.registry import CORRUPTIONS, SEVERITIES, corruption_named
from robustkit.errors import ConfigError, InputError
from robustkit.row_random import example_keys, mix_keys

_COMPILED: dict[tuple, Any] = {}
# Run as plain graphs: the JPEG codec (not compilable), glass blur (its loop is compiled on its own),
# and snow (XLA's CPU convolutions and gathers make it slower, measured on 32x32 images).
_NOT_COMPILED = ("jpeg_compression", "glass_blur", "snow")


def _compiled(name: str, constant: Any, image_shape: tuple[int, ...]) -> Any:
    """One graph per corruption, constant and image shape, for any number of images.

    A compiled corruption runs image by image in one XLA loop: XLA's CPU code rounds differently
    with the batch's size (its vector loops and matrix tiles cut the batch differently, by one unit
    in the last place), and an image must come out the same alone, in any batch and in any shard.
    The loop costs 1.0x-1.7x of one batched call on 32x32 images, 1.2x-2x on 224x224 ones.
    """
    key = (name, repr(constant), image_shape)
    if key not in _COMPILED:
        apply = CORRUPTIONS[name].apply
        signature = [tf.TensorSpec((None, *image_shape), tf.float32), tf.TensorSpec((None,), tf.int64)]

        if name in _NOT_COMPILED:  # TensorFlow's own kernels compute each image alike in any batch

            @tf.function(input_signature=signature, autograph=False)
            def run(x: tf.Tensor, keys: tf.Tensor) -> tf.Tensor:
                return apply(x, keys, constant)

        else:

            @tf.function(input_signature=signature, autograph=False, jit_compile=True)
            def run(x: tf.Tensor, keys: tf.Tensor) -> tf.Tensor:
                def one(image_and_key: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
                    image, key = image_and_key
                    return apply(image[None], key[None], constant)[0]

                return tf.map_fn(one, (x, keys), fn_output_signature=tf.float32)

        _COMPILED[key] = run
    return _COMPILED[key]


@tf.function(
    input_signature=[tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64), tf.TensorSpec((None,), tf.int64)],
    autograph=False,
)
def _keys(seed: tf.Tensor, number: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    # One graph call: the same integer hashes run eagerly cost about 1 ms per call, op by op.
    return mix_keys(example_keys(seed, indices), number)


def corruption_keys(seed: int, name: str, severity: int, indices: Any) -> tf.Tensor:
    """The examples' keys for one corruption and severity: the seed and each example's index."""
    number = list(CORRUPTIONS).index(name) * 8 + severity
    return _keys(tf.constant(seed, tf.int64), tf.constant(number, tf.int64), tf.constant(np.asarray(indices, np.int64)))


def _validated(x: Any, severity: int, bounds: Any) -> tuple[np.ndarray, float, float]:
    array = np.asarray(x)
    if array.dtype.kind != "f":
        raise InputError(f"corrupt needs float images, got dtype {array.dtype}; scale them, e.g. x / 255.0.")
    if array.ndim != 4 or array.shape[3] not in (1, 3):
        raise InputError(f"corrupt needs images shaped (N, H, W, 1 or 3), got {array.shape}.")
    if severity not in SEVERITIES:
        raise ConfigError(f"severity must be one of {list(SEVERITIES)}, got {severity!r}.")
    low, high = (float(b) for b in bounds)
    if not low < high:
        raise ConfigError(f"bounds need lower < upper, got {bounds!r}.")
    # Reductions in the data's own dtype (exact against float64 bounds), NaN and infinity propagating
    # to the extremes: no float64 copy of a large data set.
    smallest, largest = float(array.min(initial=np.inf)), float(array.max(initial=-np.inf))
    if len(array) and not (np.isfinite(smallest) and np.isfinite(largest)):
        raise InputError("the images hold NaN or infinite values; corruptions need finite pixels.")
    if len(array) and (smallest < low or largest > high):
        raise InputError(
            f"the images have values in [{smallest:.6g}, {largest:.6g}], outside bounds=({low:g}, {high:g}); "
            "pass the bounds the data lie in."
        )
    return array, low, high


def _float32_exact(array: np.ndarray, low: float, high: float) -> bool:
    """Whether float32 arithmetic is exact enough for mapping the range: float32 data whose bounds float32
    holds exactly (so that comparing with them in float32 is exact: [0, 255] pixels, say)."""
    return array.dtype == np.float32 and float(np.float32(low)) == low and float(np.float32(high)) == high


def to_unit(batch: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values in ``[low, high]`` mapped to [0, 1] for the corruptions, in float32 where that is exact enough."""
    if _float32_exact(batch, low, high):
        return (batch - np.float32(low)) / np.float32(high - low)
    return (batch.astype(np.float64) - low) / (high - low)


def back_to_bounds(unit: np.ndarray, low: float, high: float, dtype: np.dtype) -> np.ndarray:
    """Values in [0, 1] mapped to ``[low, high]`` in ``dtype``, any rounded outside put back inside (clipped
    in float32 where the bounds are float32 numbers, else compared in float64 and stepped in)."""
    if np.dtype(dtype) == np.float32 and _float32_exact(np.zeros(0, np.float32), low, high):
        lo, hi = np.float32(low), np.float32(high)
        out = unit.astype(np.float32)  # a copy, scaled and clipped in place: three passes over memory
        out *= np.float32(high - low)
        out += lo
        # The rounded width can overshoot by more than one step (bounds -16777218 and 1.5 give 2.0 at
        # 1): clipping to bounds that float32 holds exactly puts every value inside them.
        return np.clip(out, lo, hi, out=out)
    out = (low + unit.astype(np.float64) * (high - low)).astype(dtype)
    wide = out.astype(np.float64)
    out = np.where(wide < low, np.nextafter(out, np.asarray(high, dtype)), out)
    return np.where(out.astype(np.float64) > high, np.nextafter(out, np.asarray(low, dtype)), out).astype(dtype)


def corrupt(
    x: Any,
    corruption: str,
    severity: int,
    *,
    seed: int = 0,
    indices: Any = None,
    bounds: tuple[float, float] = (0.0, 1.0),
    constants: str = "auto",
    batch_size: int = 1000,
) -> np.ndarray:
    """``x`` (``(N, H, W, C)``, C 1 or 3, values within ``bounds``) corrupted at ``severity`` (1 to 5).

    ``indices`` are the examples' positions in their data set (default ``0 .. N-1``); ``constants``
    picks the published constant set, ``"small"`` (32x32), ``"large"`` (224x224) or ``"auto"`` (by
    the image's shorter side, :func:`~robustkit.corruptions.constants.constant_set`).
    """
    chosen = corruption_named(corruption)
    array, low, high = _validated(x, severity, bounds)
    if constants not in ("auto", "small", "large"):
        raise ConfigError(f"constants must be 'auto', 'small' or 'large', got {constants!r}.")
    index = np.arange(len(array)) if indices is None else np.asarray(list(indices), np.int64)
    if len(index) != len(array):
        raise InputError(f"indices has {len(index)} entries for {len(array)} images.")
    constant = constants_for(chosen.name, min(array.shape[1:3]), constants)[severity - 1]
    run = _compiled(chosen.name, constant, tuple(array.shape[1:]))
    unit_range = (low, high) == (0.0, 1.0)
    out = np.empty(array.shape, array.dtype)
    all_keys = corruption_keys(seed, chosen.name, severity, index).numpy()
    for start in range(0, len(array), batch_size):  # each batch as it is: no padding beyond it
        stop = min(start + batch_size, len(array))
        batch = array[start:stop]
        unit = batch if unit_range else to_unit(batch, low, high)
        keys = all_keys[start:stop]
        corrupted = np.asarray(run(tf.constant(unit, tf.float32), keys))  # no copy, unlike .numpy()
        out[start:stop] = corrupted if unit_range else back_to_bounds(corrupted, low, high, array.dtype)
    return out

"""The digital family: contrast, elastic transform, pixelate, JPEG compression and saturate.

Same calling convention as :mod:`robustkit.corruptions.noise`.

Example:
    >>> import tensorflow as tf
    >>> from robustkit.row_random import example_keys
    >>> x = tf.random.stateless_uniform((2, 8, 8, 3), (0, 1))
    >>> y = contrast(x, example_keys(0, [0, 1]), 0.5)
    >>> bool(tf.reduce_all(tf.abs(tf.reduce_mean(y, [1, 2]) - tf.reduce_mean(x, [1, 2])) < 1e-6))
    True
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from robustkit.corruptions.blur import blur
from robustkit.corruptions.linear import apply_separable, box_resize_matrix
from robustkit.corruptions.sampling import sample_bilinear
from robustkit.corruptions.weather import with_hsv
from robustkit.row_random import row_uniform

_box = functools.lru_cache(maxsize=64)(box_resize_matrix)


def contrast(x: tf.Tensor, keys: tf.Tensor, factor: float) -> tf.Tensor:
    """Pull every channel towards its mean over the image by ``factor``."""
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return tf.clip_by_value((x - mean) * factor + mean, 0.0, 1.0)


def saturate(x: tf.Tensor, keys: tf.Tensor, spec: tuple[float, float]) -> tf.Tensor:
    """Scale the HSV saturation by ``spec[0]`` and add ``spec[1]``."""
    return with_hsv(x, lambda h, s, v: (h, tf.clip_by_value(s * spec[0] + spec[1], 0.0, 1.0), v))


def pixelate(x: tf.Tensor, keys: tf.Tensor, fraction: float) -> tf.Tensor:
    """Box-downsample to ``fraction`` of the size and box-upsample back."""
    height, width = x.shape[1], x.shape[2]
    small_h, small_w = max(1, int(height * fraction)), max(1, int(width * fraction))
    small = apply_separable(x, _box(height, small_h), _box(width, small_w))  # down, then back up
    return tf.clip_by_value(apply_separable(small, _box(small_h, height), _box(small_w, width)), 0.0, 1.0)


def jpeg_compression(x: tf.Tensor, keys: tf.Tensor, quality: int) -> tf.Tensor:
    """Encode every image as an 8-bit JPEG of ``quality`` (4:2:0 chroma for colour) and decode it."""
    pixels = tf.cast(tf.round(tf.clip_by_value(x, 0.0, 1.0) * 255.0), tf.uint8)
    channels = x.shape[3]

    def one(image: tf.Tensor) -> tf.Tensor:
        encoded = tf.io.encode_jpeg(image, quality=int(quality), chroma_downsampling=True)
        return tf.io.decode_jpeg(encoded, channels=channels, dct_method="INTEGER_ACCURATE")

    decoded = tf.map_fn(one, pixels, fn_output_signature=tf.TensorSpec(pixels.shape[1:], tf.uint8))
    return tf.cast(decoded, x.dtype) / 255.0


def affine_sources(corners: np.ndarray, moved: tf.Tensor, height: int, width: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Where each output pixel reads from under the affine map taking the three ``corners`` (``(3, 2)``,
    as (x, y)) to ``moved`` (``(N, 3, 2)``): the map's inverse at every pixel, as rows and columns."""
    lifted = np.concatenate([corners, np.ones((3, 1))], axis=1)
    solve = tf.constant(np.linalg.inv(lifted), moved.dtype)
    forward = tf.einsum("ij,njk->nik", solve, moved)  # (N, 3, 2): [a b; c d; tx ty] with [x y 1] @ it
    a, c, tx = forward[:, 0, 0], forward[:, 1, 0], forward[:, 2, 0]
    b, d, ty = forward[:, 0, 1], forward[:, 1, 1], forward[:, 2, 1]
    det = a * d - b * c
    ys, xs = tf.meshgrid(tf.range(height, dtype=moved.dtype), tf.range(width, dtype=moved.dtype), indexing="ij")
    u = xs[None] - tx[:, None, None]
    v = ys[None] - ty[:, None, None]
    src_x = (d[:, None, None] * u - c[:, None, None] * v) / det[:, None, None]
    src_y = (-b[:, None, None] * u + a[:, None, None] * v) / det[:, None, None]
    return src_y, src_x


def elastic_with(x: tf.Tensor, moved: tf.Tensor, noise: tf.Tensor, spec: tuple[float, float, float]) -> tf.Tensor:
    """Elastic given its draws: the affine warp taking the three corners (:func:`elastic_corners`) to
    ``moved`` (``(N, 3, 2)``, as (x, y)), then the displacement of ``noise`` (``(N, 2, H, W)``, uniform in
    [-1, 1): columns, then rows) blurred by ``spec[1]`` pixels and scaled by ``spec[0]``."""
    alpha, sigma = float(spec[0]), float(spec[1])
    height, width = x.shape[1], x.shape[2]
    rows, cols = affine_sources(elastic_corners(height, width), moved, height, width)
    warped = sample_bilinear(x, rows, cols, "reflect101")
    fields = [
        blur(noise[:, k, :, :, None], sigma, "reflect", truncate=3.0)[..., 0] * alpha
        if sigma > 0
        else 0.0 * noise[:, k]
        for k in (0, 1)
    ]
    ys, xs = tf.meshgrid(tf.range(height, dtype=x.dtype), tf.range(width, dtype=x.dtype), indexing="ij")
    out = sample_bilinear(warped, ys[None] + fields[1], xs[None] + fields[0], "reflect")
    return tf.clip_by_value(out, 0.0, 1.0)


def elastic_corners(height: int, width: int) -> np.ndarray:
    """The three points elastic's affine warp moves, (x, y) as the reference builds them from (H, W)."""
    centre = np.array([height // 2, width // 2], float)
    side = min(height, width) // 3
    return np.array([centre + side, [centre[0] + side, centre[1] - side], centre - side])


def elastic_transform(x: tf.Tensor, keys: tf.Tensor, spec: tuple[float, float, float]) -> tf.Tensor:
    """A random affine warp (three points moved up to ``spec[2]`` pixels), then a smooth random
    displacement field (uniform noise blurred by ``spec[1]`` pixels, scaled by ``spec[0]``)."""
    reach = float(spec[2])
    height, width = x.shape[1], x.shape[2]
    corners = elastic_corners(height, width)
    moved = corners[None] + tf.reshape(row_uniform(keys, 31, 6) * (2 * reach) - reach, (-1, 3, 2))
    noise = [row_uniform(keys, stream, height * width) * 2.0 - 1.0 for stream in (32, 33)]
    return elastic_with(x, moved, tf.reshape(tf.stack(noise, axis=1), (-1, 2, height, width)), spec)

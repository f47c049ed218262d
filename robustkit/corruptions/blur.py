"""The blur family: defocus, glass, motion and zoom blur, and Gaussian blur.

Same calling convention as :mod:`robustkit.corruptions.noise`. The deterministic blurs are exact
linear operators (:mod:`robustkit.corruptions.linear`) with their reference's border rules; glass
blur's pixel swaps run in a compiled loop; motion blur reads each image along its own random angle.

Example:
    >>> import tensorflow as tf
    >>> from robustkit.row_random import example_keys
    >>> x = tf.random.stateless_uniform((2, 8, 8, 3), (0, 1))
    >>> [tuple(f(x, example_keys(0, [0, 1]), c).shape) for f, c in ((gaussian_blur, 0.6), (zoom_blur, (1, 1.06, 0.01)))]
    [(2, 8, 8, 3), (2, 8, 8, 3)]
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from robustkit.corruptions.constants import zoom_factors
from robustkit.corruptions.linear import (
    apply_separable,
    apply_sparse,
    convolve_reflect101,
    disk_kernel,
    gaussian_matrix,
    sum_of_separable,
    zoom_matrix,
)
from robustkit.corruptions.sampling import shifted
from robustkit.row_random import row_uniform

_gaussian = functools.lru_cache(maxsize=256)(gaussian_matrix)
cached_zoom_matrix = functools.lru_cache(maxsize=512)(zoom_matrix)


def blur(x: tf.Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> tf.Tensor:
    """A Gaussian blur of ``sigma`` pixels over the rows and columns of each image."""
    height, width = x.shape[1], x.shape[2]
    return apply_separable(x, _gaussian(height, sigma, mode, truncate), _gaussian(width, sigma, mode, truncate))


def gaussian_blur(x: tf.Tensor, keys: tf.Tensor, sigma: float) -> tf.Tensor:
    """Blur by a Gaussian of ``sigma`` pixels (the edge repeated beyond the border)."""
    return tf.clip_by_value(blur(x, sigma), 0.0, 1.0)


def defocus_blur(x: tf.Tensor, keys: tf.Tensor, spec: tuple[float, float]) -> tf.Tensor:
    """Convolve with a disk of ``spec[0]`` pixels softened by a Gaussian of ``spec[1]``."""
    return tf.clip_by_value(convolve_reflect101(x, disk_kernel(*spec)), 0.0, 1.0)


@functools.lru_cache(maxsize=64)
def zoom_operator(height: int, width: int, spec: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Zoom blur as one sparse operator: the mean of the image and its zooms by each factor."""
    factors = [1.0, *zoom_factors(spec)]  # the image itself, then each zoom
    return sum_of_separable(
        [(cached_zoom_matrix(height, f), cached_zoom_matrix(width, f)) for f in factors], 1.0 / len(factors)
    )


def zoom_blur(x: tf.Tensor, keys: tf.Tensor, spec: tuple[float, float, float]) -> tf.Tensor:
    """Average the image with centre zooms of it by each factor of ``arange(*spec)``."""
    return tf.clip_by_value(apply_sparse(x, *zoom_operator(x.shape[1], x.shape[2], tuple(spec))), 0.0, 1.0)


def motion_weights(radius: int, sigma: float) -> np.ndarray:
    """The motion kernel's ``2 * radius + 1`` weights: a one-sided Gaussian of ``sigma``, normalised.

    Example:
        >>> motion_weights(2, 1.0).round(3).tolist()
        [0.57, 0.346, 0.077, 0.006, 0.0]
    """
    steps = np.arange(2 * int(radius) + 1, dtype=float)
    weights = np.exp(-(steps**2) / (2.0 * sigma**2))
    return weights / weights.sum()


def motion_along(x: tf.Tensor, angle_degrees: tf.Tensor, radius: int, sigma: float) -> tf.Tensor:
    """Each image smeared along its own angle: the weighted sum of copies moved 0, 1, 2, ... pixels
    along it (rounded to whole pixels), stopping at the first copy moved a whole image away."""
    height, width = x.shape[1], x.shape[2]
    angle = angle_degrees * (np.pi / 180.0)
    total = tf.zeros_like(x)
    inside = tf.ones_like(angle, dtype=tf.bool)
    for step, weight in enumerate(motion_weights(radius, sigma)):
        down = tf.cast(-tf.math.ceil(step * tf.sin(angle) - 0.5), tf.int32)
        right = tf.cast(-tf.math.ceil(step * tf.cos(angle) - 0.5), tf.int32)
        inside &= (tf.abs(down) < height) & (tf.abs(right) < width)
        total += tf.where(inside, float(weight), 0.0)[:, None, None, None] * shifted(x, down, right)
    return total


# The smear as its own compiled graph, for callers that are not compiled whole (snow): compiled
# together with the layer it smears, XLA fuses that layer's computation into every step's gather.
compiled_motion_along = tf.function(motion_along, jit_compile=True)


def motion_blur(x: tf.Tensor, keys: tf.Tensor, spec: tuple[float, float]) -> tf.Tensor:
    """Smear along a random angle in [-45, 45) degrees (a radius and a sigma in pixels)."""
    angle = row_uniform(keys, 11, 1)[:, 0] * 90.0 - 45.0
    return tf.clip_by_value(motion_along(x, angle, int(spec[0]), float(spec[1])), 0.0, 1.0)


@tf.function(jit_compile=True, reduce_retracing=True)
def _swap_pixels(flat: tf.Tensor, positions: tf.Tensor, moves: tf.Tensor) -> tf.Tensor:
    """Swap, in order, each pixel at ``positions[t]`` with the one ``moves[:, t]`` away, per image."""
    batch = tf.shape(flat)[0]
    rows = tf.range(batch)

    def body(t: tf.Tensor, flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        here = tf.fill([batch], positions[t])
        there = here + moves[:, t]
        at_here = tf.gather(flat, here, batch_dims=1)
        at_there = tf.gather(flat, there, batch_dims=1)
        flat = tf.tensor_scatter_nd_update(flat, tf.stack([rows, here], 1), at_there)
        flat = tf.tensor_scatter_nd_update(flat, tf.stack([rows, there], 1), at_here)
        return t + 1, flat

    return tf.while_loop(lambda t, _: t < tf.shape(positions)[0], body, (tf.constant(0), flat))[1]


def glass_blur(x: tf.Tensor, keys: tf.Tensor, spec: tuple[float, int, int]) -> tf.Tensor:
    """Blur, quantise to 8 bits, swap every inner pixel (bottom-right first) with a random neighbour
    at most ``spec[1]`` away, ``spec[2]`` times over, and blur again."""
    sigma, reach, rounds = float(spec[0]), int(spec[1]), int(spec[2])
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    x = tf.floor(tf.clip_by_value(blur(x, sigma), 0.0, 1.0) * 255.0) / 255.0
    rows_cols = [(h, w) for h in range(height - reach, reach, -1) for w in range(width - reach, reach, -1)]
    if rows_cols:
        positions = np.array([h * width + w for h, w in rows_cols] * rounds, np.int32)
        count = len(positions)
        drawn = tf.cast(tf.floor(row_uniform(keys, 12, 2 * count) * (2 * reach)), tf.int32) - reach
        moves = drawn[:, 1::2] * width + drawn[:, 0::2]  # a (dx, dy) pair per swap, as in the reference
        flat = tf.reshape(x, (-1, height * width, channels))
        x = tf.reshape(_swap_pixels(flat, tf.constant(positions), moves), tf.shape(x))
    return tf.clip_by_value(blur(x, sigma), 0.0, 1.0)

"""Edges and distances on batches of 8-bit grey layers, computed as OpenCV computes them: Canny's
edge detector, the 5x5 chamfer distance transform, histogram equalisation and 3x3 filters. Spatter
draws the rims of its water drops with them.

Every function takes and returns ``(N, H, W)`` float32 tensors holding whole numbers from 0 to 255
(8-bit values), so each step is exact and matches the 8-bit original value for value.

Example:
    >>> import tensorflow as tf
    >>> square = tf.pad(tf.fill((1, 4, 4), 200.0), [[0, 0], [3, 3], [3, 3]])
    >>> edges = canny(square, 50.0, 150.0)
    >>> int(tf.reduce_sum(edges) / 255), round(float(chamfer_distance(edges > 0, 20.0)[0, 0, 0]), 4)
    (12, 4.2)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# The chamfer steps of OpenCV's 5x5 L2 mask (one pixel across, one diagonally, a knight's move),
# added in float32 as it adds them.
_STEPS = {1: 1.0, 2: 1.4, 5: 2.1969}
_MOVES = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if dy * dy + dx * dx in _STEPS]
# Canny's direction sectors in fixed point: tan(22.5 degrees) with 15 fractional bits.
_TAN_22_5 = 13573
_SHIFT = 1 << 15


def _window(padded: tf.Tensor, dy: int, dx: int, pad: int, height: int, width: int) -> tf.Tensor:
    """The ``(height, width)`` view of a padded batch moved by ``(dy, dx)``."""
    return padded[:, pad + dy : pad + dy + height, pad + dx : pad + dx + width]


def correlate3(x: tf.Tensor, kernel: np.ndarray, border: str) -> tf.Tensor:
    """Correlation with a 3x3 ``kernel``; ``border`` is ``"replicate"`` or ``"reflect101"`` (OpenCV's
    default)."""
    height, width = x.shape[1], x.shape[2]
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1]], mode="SYMMETRIC" if border == "replicate" else "REFLECT")
    total = tf.zeros_like(x)
    for (i, j), weight in np.ndenumerate(kernel):
        if weight:
            total += float(weight) * _window(padded, i - 1, j - 1, 1, height, width)
    return total


def box3(x: tf.Tensor) -> tf.Tensor:
    """The 3x3 mean (OpenCV's ``blur`` with its reflect-101 border), unrounded."""
    return correlate3(x, np.ones((3, 3)), "reflect101") / 9.0


def canny(layer: tf.Tensor, low: float, high: float) -> tf.Tensor:
    """Canny's edges (255 on an edge, 0 elsewhere): 3x3 Sobel gradients with a replicated border, their
    L1 magnitude thinned to local maxima across the gradient's direction (one of four sectors), pixels
    above ``high`` kept with those above ``low`` that connect to them through 8-neighbours."""
    gx = correlate3(layer, np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), "replicate")
    gy = correlate3(layer, np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]), "replicate")
    magnitude = tf.abs(gx) + tf.abs(gy)
    height, width = layer.shape[1], layer.shape[2]
    padded = tf.pad(magnitude, [[0, 0], [1, 1], [1, 1]])  # no neighbour outside the image

    def near(dy: int, dx: int) -> tf.Tensor:
        return _window(padded, dy, dx, 1, height, width)

    across, along = tf.cast(tf.abs(gx), tf.int32), tf.cast(tf.abs(gy), tf.int32) * _SHIFT
    horizontal = along < across * _TAN_22_5
    vertical = along > across * (_TAN_22_5 + 2 * _SHIFT)
    same_sign = (gx < 0) == (gy < 0)
    diagonal = tf.where(
        same_sign,
        (magnitude > near(-1, -1)) & (magnitude > near(1, 1)),
        (magnitude > near(-1, 1)) & (magnitude > near(1, -1)),
    )
    peak = tf.where(
        horizontal,
        (magnitude > near(0, -1)) & (magnitude >= near(0, 1)),
        tf.where(vertical, (magnitude > near(-1, 0)) & (magnitude >= near(1, 0)), diagonal),
    )
    weak = tf.cast(peak & (magnitude > low), tf.float32)[..., None]
    strong = weak * tf.cast(magnitude > high, tf.float32)[..., None]

    def grow(edges: tf.Tensor, _: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        grown = tf.maximum(strong, weak * tf.nn.max_pool2d(edges, 3, 1, "SAME"))
        return grown, tf.reduce_any(grown != edges)

    edges, _ = tf.while_loop(lambda _, changed: changed, grow, (strong, tf.constant(True)))
    return 255.0 * edges[..., 0]


def chamfer_distance(sources: tf.Tensor, cap: float) -> tf.Tensor:
    """Each pixel's distance to the nearest ``True`` pixel of ``sources`` along the 5x5 chamfer mask
    (steps 1, 1.4 and 2.1969), capped at ``cap``: OpenCV's ``distanceTransform(.., DIST_L2, 5)`` of the
    pixels that are not sources, then truncated at ``cap``. The image's outside is no source."""
    height, width = sources.shape[1], sources.shape[2]

    def relax(step: tf.Tensor, distance: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        padded = tf.pad(distance, [[0, 0], [2, 2], [2, 2]], constant_values=float(cap))
        for dy, dx in _MOVES:
            distance = tf.minimum(distance, _window(padded, dy, dx, 2, height, width) + _STEPS[dy * dy + dx * dx])
        return step + 1, distance

    # A loop rather than unrolled steps: each step's distances are kept, not recomputed into the next.
    # A path of length up to cap takes at most cap steps.
    steps = int(np.ceil(cap))
    start = tf.where(sources, 0.0, float(cap))
    return tf.while_loop(lambda step, _: step < steps, relax, (tf.constant(0), start))[1]


def equalize_histogram(x: tf.Tensor, levels: int) -> tf.Tensor:
    """Each image's values (whole numbers below ``levels``) spread over 0..255 by their cumulative
    histogram, OpenCV's ``equalizeHist``: the smallest value present becomes 0, the rest
    ``round(255 * (count at or below - count of the smallest) / (pixels - count of the smallest))``;
    an image of one value is left as it is."""
    pixels = x.shape[1] * x.shape[2]
    images = tf.shape(x)[0]
    values = tf.cast(tf.reshape(x, (-1, pixels)), tf.int32)
    bins = values + levels * tf.range(images)[:, None]  # one histogram per image, counted at once
    counts = tf.math.unsorted_segment_sum(tf.ones_like(bins, tf.float32), bins, images * levels)
    cumulative = tf.cumsum(tf.reshape(counts, (-1, levels)), axis=1)
    lowest = tf.gather(cumulative, tf.reduce_min(values, axis=1), batch_dims=1)
    scale = 255.0 / tf.maximum(pixels - lowest, 1.0)
    table = tf.round((cumulative - lowest[:, None]) * scale[:, None])
    equalized = tf.reshape(tf.gather(tf.reshape(table, [-1]), bins), tf.shape(x))
    single = tf.equal(lowest, pixels)[:, None, None]
    return tf.where(single, x, equalized)

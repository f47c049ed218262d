"""Reading a batch of images at arbitrary (per-example) coordinates: bilinear interpolation with a
border rule, and whole-pixel shifts. The geometric corruptions (elastic, motion blur, glass blur)
move pixels by different amounts in every image, so they gather rather than convolve.

Example:
    >>> import tensorflow as tf
    >>> x = tf.reshape(tf.range(4, dtype=tf.float32), (1, 2, 2, 1))
    >>> rows, cols = tf.constant([[[0.5]]]), tf.constant([[[0.5]]])
    >>> float(sample_bilinear(x, rows, cols, "reflect")[0, 0, 0, 0])
    1.5
"""

from __future__ import annotations

import tensorflow as tf


def border_index(i: tf.Tensor, n: int, mode: str) -> tf.Tensor:
    """Integer indices folded into ``[0, n)`` by a border rule (``nearest``, ``reflect`` (half-sample
    symmetric, SciPy's) or ``reflect101`` (whole-sample symmetric, OpenCV's default))."""
    if n == 1 or mode == "nearest":
        return tf.clip_by_value(i, 0, n - 1)
    if mode == "reflect":
        i = tf.math.floormod(i, 2 * n)
        return tf.where(i < n, i, 2 * n - 1 - i)
    if mode == "reflect101":
        i = tf.math.floormod(i, 2 * n - 2)
        return tf.where(i < n, i, 2 * n - 2 - i)
    raise ValueError(f"unknown border mode {mode!r}")


def _gather(x: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """``x[n, rows[n, i, j], cols[n, i, j], :]`` for integer index maps of shape ``(N, H', W')``."""
    width = x.shape[2]
    flat = tf.reshape(x, (tf.shape(x)[0], -1, x.shape[3]))
    return tf.gather(flat, rows * width + cols, batch_dims=1)


def sample_bilinear(x: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor, mode: str) -> tf.Tensor:
    """Each image of ``x`` (``(N, H, W, C)``) read at real coordinates ``rows``, ``cols`` (``(N, H', W')``,
    in pixels) by bilinear interpolation, indices outside the image folded by ``mode``."""
    height, width = x.shape[1], x.shape[2]
    top, left = tf.floor(rows), tf.floor(cols)
    fy, fx = (rows - top)[..., None], (cols - left)[..., None]
    r0, c0 = tf.cast(top, tf.int32), tf.cast(left, tf.int32)
    r0f, r1f = border_index(r0, height, mode), border_index(r0 + 1, height, mode)
    c0f, c1f = border_index(c0, width, mode), border_index(c0 + 1, width, mode)
    upper = _gather(x, r0f, c0f) * (1 - fx) + _gather(x, r0f, c1f) * fx
    lower = _gather(x, r1f, c0f) * (1 - fx) + _gather(x, r1f, c1f) * fx
    return upper * (1 - fy) + lower * fy


def shifted(x: tf.Tensor, down: tf.Tensor, right: tf.Tensor) -> tf.Tensor:
    """Each image moved by a whole number of pixels (``down``, ``right``: ``(N,)`` int32), reading
    ``x[i - down, j - right]`` with the edge repeated outside."""
    height, width = x.shape[1], x.shape[2]
    rows = tf.range(height)[None, :, None] - down[:, None, None]
    cols = tf.range(width)[None, None, :] - right[:, None, None]
    rows = tf.clip_by_value(tf.broadcast_to(rows, (tf.shape(x)[0], height, width)), 0, height - 1)
    cols = tf.clip_by_value(tf.broadcast_to(cols, (tf.shape(x)[0], height, width)), 0, width - 1)
    return _gather(x, rows, cols)

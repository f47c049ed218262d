"""The weather family: snow, fog, brightness and the held-out spatter (frost is not provided: see
:data:`robustkit.corruptions.registry.UNAVAILABLE`).

Same calling convention as :mod:`robustkit.corruptions.noise`. Fog adds a plasma fractal (the
diamond-square algorithm, one random map per example); snow draws a layer of flakes, streaks it
with a motion blur and lays it over a lightened image; spatter lays water drops, their rims drawn
by an edge detector and a distance transform (:mod:`robustkit.corruptions.edges`), or mud.

Example:
    >>> import tensorflow as tf
    >>> from robustkit.row_random import example_keys
    >>> plasma_fractal(example_keys(0, [0, 1]), 8, 3.0).shape
    TensorShape([2, 8, 8])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from robustkit.corruptions.blur import blur, cached_zoom_matrix, compiled_motion_along
from robustkit.corruptions.edges import box3, canny, chamfer_distance, correlate3, equalize_histogram
from robustkit.corruptions.linear import apply_separable
from robustkit.row_random import row_normal_pairs, row_uniform

_GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, the reference's RGB to grey conversion
_WATER = (175 / 255, 238 / 255, 238 / 255)  # pale turquoise
_MUD = (63 / 255, 42 / 255, 20 / 255)
_GREY_OF_COLOUR = (0.2125, 0.7154, 0.0721)  # how the reference greys spatter's colour for grey images
_RIM_KERNEL = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])  # lights the rims from one side


def _interleave(a: tf.Tensor, b: tf.Tensor, axis: int) -> tf.Tensor:
    """``a`` and ``b`` (same shape) alternated along ``axis`` (1 or 2 of a ``(N, n, m)`` tensor)."""
    stacked = tf.stack([a, b], axis=axis + 1)
    shape = tf.shape(a)
    new = [shape[0], shape[1] * 2, shape[2]] if axis == 1 else [shape[0], shape[1], shape[2] * 2]
    return tf.reshape(stacked, new)


def plasma_steps(corners: tf.Tensor, noise: list[tuple[tf.Tensor, tf.Tensor, tf.Tensor]], decay: float) -> tf.Tensor:
    """Diamond-square from a ``(N, 1, 1)`` corner map, given each level's three ``(N, n, n)`` uniform
    fields in [-1, 1) (square centres, then the two diamond sets); the map, normalised to [0, 1]."""
    grid = corners
    wibble = 100.0
    for centres, across, down in noise:
        square = grid + tf.roll(grid, -1, axis=1)
        square = square + tf.roll(square, -1, axis=2)
        mids = square / 4 + wibble * wibble * centres
        left_right = mids + tf.roll(mids, 1, axis=1) + grid + tf.roll(grid, -1, axis=2)
        top_bottom = mids + tf.roll(mids, 1, axis=2) + grid + tf.roll(grid, -1, axis=1)
        on_rows = left_right / 4 + wibble * wibble * across  # between two corners of a row
        on_cols = top_bottom / 4 + wibble * wibble * down  # between two corners of a column
        even_rows = _interleave(grid, on_rows, axis=2)
        odd_rows = _interleave(on_cols, mids, axis=2)
        grid = _interleave(even_rows, odd_rows, axis=1)
        wibble /= decay
    grid -= tf.reduce_min(grid, axis=[1, 2], keepdims=True)
    return grid / tf.reduce_max(grid, axis=[1, 2], keepdims=True)


def plasma_fractal(keys: tf.Tensor, size: int, decay: float) -> tf.Tensor:
    """One ``(size, size)`` plasma fractal per example (``size`` a power of two), values in [0, 1]."""
    noise = []
    n = 1
    level = 0
    while n < size:
        fields = [
            tf.reshape(row_uniform(keys, 100 + 3 * level + part, n * n) * 2.0 - 1.0, (-1, n, n)) for part in range(3)
        ]
        noise.append((fields[0], fields[1], fields[2]))
        n, level = n * 2, level + 1
    return plasma_steps(tf.zeros((tf.shape(keys)[0], 1, 1)), noise, decay)


def fog_with(x: tf.Tensor, plasma: tf.Tensor, thickness: float) -> tf.Tensor:
    """Fog from a given plasma map: ``(x + thickness * map) * max / (max + thickness)``."""
    height, width = x.shape[1], x.shape[2]
    peak = tf.reduce_max(x, axis=[1, 2, 3], keepdims=True)
    foggy = x + thickness * plasma[:, :height, :width, None]
    return tf.clip_by_value(foggy * peak / (peak + thickness), 0.0, 1.0)


def fog(x: tf.Tensor, keys: tf.Tensor, spec: tuple[float, float]) -> tf.Tensor:
    """Add a plasma fractal of strength ``spec[0]`` and roughness ``spec[1]`` (its wibble's decay)."""
    size = 1 << int(np.ceil(np.log2(max(x.shape[1], x.shape[2]))))
    return fog_with(x, plasma_fractal(keys, size, float(spec[1])), float(spec[0]))


def grey(x: tf.Tensor) -> tf.Tensor:
    """Luma of RGB images, ``(N, H, W, 1)``; a grey image is its own."""
    if x.shape[3] == 1:
        return x
    return tf.reduce_sum(x * tf.constant(_GREY, x.dtype), axis=3, keepdims=True)


def snow(x: tf.Tensor, keys: tf.Tensor, spec: tuple) -> tf.Tensor:
    """Flakes: a thresholded, zoomed normal layer, streaked by a motion blur at a random angle in
    [-135, -45) degrees, over an image lightened towards ``1.5 * grey + 0.5``."""
    mean, spread, zoom, threshold, radius, sigma, keep = spec
    height, width = x.shape[1], x.shape[2]
    count = height * width
    layer = tf.reshape(mean + spread * row_normal_pairs(keys, 21, count), (-1, height, width, 1))
    layer = apply_separable(layer, cached_zoom_matrix(height, zoom), cached_zoom_matrix(width, zoom))
    layer = tf.where(layer < threshold, 0.0, layer)
    layer = tf.floor(tf.clip_by_value(layer, 0.0, 1.0) * 255.0) / 255.0  # the reference's 8-bit layer
    angle = row_uniform(keys, 22, 1)[:, 0] * 90.0 - 135.0
    layer = compiled_motion_along(layer, angle, int(radius), float(sigma))
    lighter = keep * x + (1 - keep) * tf.maximum(x, grey(x) * 1.5 + 0.5)
    return tf.clip_by_value(lighter + layer + tf.reverse(layer, axis=[1, 2]), 0.0, 1.0)


def brightness(x: tf.Tensor, keys: tf.Tensor, shift: float) -> tf.Tensor:
    """Raise the HSV value by ``shift``."""
    return with_hsv(x, lambda h, s, v: (h, s, tf.clip_by_value(v + shift, 0.0, 1.0)))


def with_hsv(x: tf.Tensor, change) -> tf.Tensor:
    """``change(h, s, v)`` applied in HSV space; grey images go through as three equal channels and
    come back as their mean."""
    rgb = tf.tile(x, [1, 1, 1, 3]) if x.shape[3] == 1 else x
    hsv = tf.image.rgb_to_hsv(rgb)
    h, s, v = change(hsv[..., 0], hsv[..., 1], hsv[..., 2])
    out = tf.clip_by_value(tf.image.hsv_to_rgb(tf.stack([h, s, v], axis=-1)), 0.0, 1.0)
    return tf.reduce_mean(out, axis=3, keepdims=True) if x.shape[3] == 1 else out


def _coloured(amount: tf.Tensor, colour: tuple[float, float, float], channels: int) -> tf.Tensor:
    """``amount`` (``(N, H, W)``) of a colour, clipped to [0, 1], as RGB or, for grey images, greyed."""
    rgb = tf.clip_by_value(amount[..., None] * tf.constant(colour, tf.float32), 0.0, 1.0)
    if channels == 3:
        return rgb
    return tf.reduce_sum(rgb * tf.constant(_GREY_OF_COLOUR, tf.float32), axis=3, keepdims=True)


def drop_rims(drops: tf.Tensor) -> tf.Tensor:
    """The lit rims of 8-bit drops (``(N, H, W)``): the distance to their edges (capped at 20 pixels),
    averaged, equalised, lit from one side and averaged again, each step rounded as in 8 bits."""
    distance = chamfer_distance(canny(drops, 50.0, 150.0) > 0, 20.0)
    rims = equalize_histogram(tf.floor(box3(distance)), 21)
    rims = tf.clip_by_value(correlate3(rims, _RIM_KERNEL, "reflect101"), 0.0, 255.0)
    return tf.round(box3(rims))


def spatter(x: tf.Tensor, keys: tf.Tensor, spec: tuple) -> tf.Tensor:
    """Liquid on the lens: a smoothed normal layer whose values above a threshold are drops. Water
    (severities 1-3) adds pale turquoise drops, strongest on their lit rims; mud (4-5) covers the
    image with brown where the blurred drops are dense."""
    mean, spread, sigma, threshold, strength, mud = spec
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    layer = tf.reshape(mean + spread * row_normal_pairs(keys, 41, height * width), (-1, height, width, 1))
    layer = blur(layer, float(sigma))[..., 0]
    layer = tf.where(layer < threshold, 0.0, layer)
    if mud:
        cover = blur(tf.cast(layer > threshold, tf.float32)[..., None], float(strength))[..., 0]
        cover = tf.where(cover < 0.8, 0.0, cover)
        return tf.clip_by_value(x * (1.0 - cover[..., None]) + _coloured(cover, _MUD, channels), 0.0, 1.0)
    drops = tf.floor(tf.minimum(layer * 255.0, 255.0))  # the reference's 8-bit layer
    wet = drops * drop_rims(drops)
    peak = tf.reduce_max(wet, axis=[1, 2], keepdims=True)
    wet = tf.math.divide_no_nan(wet, peak) * strength  # a dry image (no drop) stays as it is
    return tf.clip_by_value(x + _coloured(wet, _WATER, channels), 0.0, 1.0)

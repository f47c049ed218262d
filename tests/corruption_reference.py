"""The published common-corruption algorithms (Hendrycks and Dietterich's CIFAR-10-C code), written
out one image at a time in NumPy, SciPy and Pillow, with their small-image constants: the
reference robustkit's batched TensorFlow corruptions are tested against.

Every function takes one image in [0, 1] (H, W, C) and returns one; random ones take a NumPy
generator. Where the original calls OpenCV or scikit-image, the same operation is written with
SciPy (``mirror`` is OpenCV's default border, ``nearest`` scikit-image's for ``gaussian``).
"""

from __future__ import annotations

import colorsys
import io

import numpy as np
from PIL import Image
from scipy import ndimage


def gaussian_noise(x, c, rng):
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1)


def shot_noise(x, c, rng):
    return np.clip(rng.poisson(x * c) / c, 0, 1)


def impulse_noise(x, c, rng):
    out = x.copy()
    flipped = rng.random(x.shape) <= c
    salted = rng.random(x.shape) <= 0.5
    out[flipped & salted] = 1
    out[flipped & ~salted] = 0
    return out


def speckle_noise(x, c, rng):
    return np.clip(x + x * rng.normal(size=x.shape, scale=c), 0, 1)


def gaussian_blur(x, sigma):
    return np.clip(ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0), 0, 1)


def glass_blur(x, c, rng):
    sigma, reach, rounds = c
    h, w = x.shape[:2]
    x = np.floor(gaussian_blur(x, sigma) * 255) / 255
    for _ in range(rounds):
        for row in range(h - reach, reach, -1):
            for col in range(w - reach, reach, -1):
                dx, dy = rng.integers(-reach, reach, size=(2,))
                x[row, col], x[row + dy, col + dx] = x[row + dy, col + dx].copy(), x[row, col].copy()
    return gaussian_blur(x, sigma)


def disk(radius, alias_blur):
    half = 8 if radius <= 8 else int(radius)
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    kernel = np.array(xx**2 + yy**2 <= radius**2, dtype=float)
    kernel /= kernel.sum()
    size = 3 if radius <= 8 else 5
    taps = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * alias_blur**2))
    taps /= taps.sum()
    kernel = ndimage.correlate1d(kernel, taps, axis=0, mode="mirror")
    return ndimage.correlate1d(kernel, taps, axis=1, mode="mirror")


def defocus_blur(x, c):
    kernel = disk(*c)
    channels = [ndimage.correlate(x[..., d], kernel, mode="mirror") for d in range(x.shape[2])]
    return np.clip(np.stack(channels, axis=2), 0, 1)


def clipped_zoom(img, factor):
    h = img.shape[0]
    crop = int(np.ceil(h / factor))
    top = (h - crop) // 2
    img = ndimage.zoom(img[top : top + crop, top : top + crop], (factor, factor, 1), order=1)
    trim = (img.shape[0] - h) // 2
    return img[trim : trim + h, trim : trim + h]


def zoom_blur(x, c):
    factors = np.arange(*c)
    out = np.zeros_like(x)
    for factor in factors:
        out += clipped_zoom(x, factor)
    return np.clip((x + out) / (len(factors) + 1), 0, 1)


def _hsv_map(x, change):
    flat = x.reshape(-1, 3)
    hsv = np.array([colorsys.rgb_to_hsv(*p) for p in flat])
    hsv = change(hsv)
    return np.clip(np.array([colorsys.hsv_to_rgb(*p) for p in hsv]).reshape(x.shape), 0, 1)


def brightness(x, c):
    def change(hsv):
        hsv[:, 2] = np.clip(hsv[:, 2] + c, 0, 1)
        return hsv

    return _hsv_map(x, change)


def saturate(x, c):
    def change(hsv):
        hsv[:, 1] = np.clip(hsv[:, 1] * c[0] + c[1], 0, 1)
        return hsv

    return _hsv_map(x, change)


def contrast(x, c):
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1)


def _pil(x):
    pixels = np.round(x * 255).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if x.shape[2] == 1 else pixels)


def _from_pil(image, channels):
    out = np.asarray(image, dtype=float) / 255
    return out[..., None] if channels == 1 else out


def pixelate(x, c):
    h, w = x.shape[:2]
    image = _pil(x).resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX)
    return _from_pil(image, x.shape[2])


def jpeg_compression(x, quality):
    buffer = io.BytesIO()
    _pil(x).save(buffer, "JPEG", quality=quality)
    return _from_pil(Image.open(buffer), x.shape[2])


def plasma_fractal(mapsize, decay, uniforms):
    """The diamond-square loop of the original, drawing from ``uniforms`` (a list of arrays in [-1, 1),
    consumed in the original's order) instead of a global generator."""
    maparray = np.zeros((mapsize, mapsize))
    stepsize, wibble = mapsize, 100.0
    draws = iter(uniforms)

    def wibbledmean(array):
        return array / 4 + wibble * wibble * next(draws).reshape(array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        corner = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corner + np.roll(corner, shift=-1, axis=0)
        square += np.roll(square, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(square)
        centres = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        corner = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        across = centres + np.roll(centres, 1, axis=0) + corner + np.roll(corner, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(across)
        down = centres + np.roll(centres, 1, axis=1) + corner + np.roll(corner, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(down)
        stepsize //= 2
        wibble /= decay
    maparray -= maparray.min()
    return maparray / maparray.max()


def fog_with(x, plasma, thickness):
    peak = x.max()
    h, w = x.shape[:2]
    return np.clip((x + thickness * plasma[:h, :w, None]) * peak / (peak + thickness), 0, 1)


def displaced(image, rows, cols, mode):
    """``map_coordinates`` at (rows, cols) per channel, linear, with SciPy's border ``mode``."""
    return np.stack(
        [ndimage.map_coordinates(image[..., d], [rows, cols], order=1, mode=mode) for d in range(image.shape[2])],
        axis=2,
    )


def psnr(clean, corrupted):
    mse = ((clean - corrupted) ** 2).mean(axis=tuple(range(1, clean.ndim)))
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-12))

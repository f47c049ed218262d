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


def glass_shuffle(x, reach, rounds, draws):
    """The published loop, statement for statement: on NumPy views of an (H, W, C) image its "swap"
    copies ``x[row + dy, col + dx]`` into ``x[row, col]`` and leaves the other pixel as it was.
    ``draws`` yields the ``(dx, dy)`` pairs."""
    x = x.copy()
    h, w = x.shape[:2]
    for _ in range(rounds):
        for row in range(h - reach, reach, -1):
            for col in range(w - reach, reach, -1):
                dx, dy = next(draws)
                x[row, col], x[row + dy, col + dx] = x[row + dy, col + dx], x[row, col]
    return x


def glass_blur(x, c, rng):
    sigma, reach, rounds = c
    x = np.floor(gaussian_blur(x, sigma) * 255) / 255
    draws = (rng.integers(-reach, reach, size=(2,)) for _ in iter(int, 1))  # as many as the loop asks for
    return gaussian_blur(glass_shuffle(x, reach, rounds, draws), sigma)


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


# Spatter, and the OpenCV steps that draw its water drops' rims, one pixel at a time.


def canny(layer, low, high):
    """OpenCV's ``Canny`` on an 8-bit image: 3x3 Sobel with a replicated border, L1 magnitude, a scan
    keeping local maxima across the gradient (fixed-point sectors), then edges grown from a stack."""
    p = np.pad(layer.astype(np.int64), 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    mag = np.pad(np.abs(gx) + np.abs(gy), 1)
    h, w = layer.shape
    state = np.ones((h, w), int)  # 1: no edge, 0: an edge if connected, 2: an edge
    stack = []
    for i in range(h):
        for j in range(w):
            m = mag[i + 1, j + 1]
            if m <= low:
                continue
            x, y = abs(int(gx[i, j])), abs(int(gy[i, j])) << 15
            if y < x * 13573:
                peak = m > mag[i + 1, j] and m >= mag[i + 1, j + 2]
            elif y > x * 13573 + (x << 16):
                peak = m > mag[i, j + 1] and m >= mag[i + 2, j + 1]
            else:
                s = -1 if (gx[i, j] < 0) != (gy[i, j] < 0) else 1
                peak = m > mag[i, j + 1 - s] and m > mag[i + 2, j + 1 + s]
            if peak and m > high:
                state[i, j] = 2
                stack.append((i, j))
            elif peak:
                state[i, j] = 0
    while stack:
        i, j = stack.pop()
        for a in range(max(i - 1, 0), min(i + 2, h)):
            for b in range(max(j - 1, 0), min(j + 2, w)):
                if state[a, b] == 0:
                    state[a, b] = 2
                    stack.append((a, b))
    return np.where(state == 2, 255, 0).astype(np.uint8)


def chamfer_distance(edges, cap):
    """OpenCV's two-pass 5x5 chamfer distance (1, 1.4, 2.1969) to the nearest edge, in float32, capped."""
    a, b, c = np.float32(1), np.float32(1.4), np.float32(2.1969)
    h, w = edges.shape
    d = np.full((h + 4, w + 4), np.float32(1e6), np.float32)
    d[2:-2, 2:-2] = np.where(edges > 0, 0, 1e6)
    forward = [(-2, -1, c), (-2, 1, c), (-1, -2, c), (-1, -1, b), (-1, 0, a), (-1, 1, b), (-1, 2, c), (0, -1, a)]
    backward = [(-dy, -dx, s) for dy, dx, s in forward]
    passes = [(forward, range(2, h + 2), range(2, w + 2)), (backward, range(h + 1, 1, -1), range(w + 1, 1, -1))]
    for steps, rows, cols in passes:
        for i in rows:
            for j in cols:
                d[i, j] = min([d[i, j]] + [d[i + dy, j + dx] + s for dy, dx, s in steps])
    return np.minimum(d[2:-2, 2:-2], np.float32(cap))


def _box3(x):
    return sum(np.pad(x, 1, mode="reflect")[i : i + x.shape[0], j : j + x.shape[1]] for i in range(3) for j in range(3))


def equalize_histogram(x):
    """OpenCV's ``equalizeHist`` of an 8-bit image."""
    hist = np.bincount(x.ravel(), minlength=256)
    first = int(np.flatnonzero(hist)[0])
    if hist[first] == x.size:
        return x.copy()
    scale = np.float32(255.0) / np.float32(x.size - hist[first])
    lut = np.rint((np.cumsum(hist) - hist[first]).astype(np.float32) * scale).clip(0, 255)  # float32, as OpenCV
    lut[: first + 1] = 0
    return lut.astype(np.uint8)[x]


def drop_rims(drops):
    """The published rims: 255 minus Canny, distance transform, truncation at 20, 3x3 blurs, the
    equalisation and the lighting kernel, each with OpenCV's 8-bit rounding."""
    dist = chamfer_distance(canny(drops, 50, 150), 20)
    dist = equalize_histogram((_box3(dist) / np.float32(9)).astype(np.uint8))
    padded = np.pad(dist.astype(np.int64), 1, mode="reflect")
    kernel = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    lit = sum(kernel[i, j] * padded[i : i + dist.shape[0], j : j + dist.shape[1]] for i in range(3) for j in range(3))
    return np.rint(_box3(np.clip(lit, 0, 255)) / 9.0).astype(np.float32)


def liquid_layer(shape, c, rng):
    """Spatter's layer: a smoothed normal field, zero below the threshold."""
    liquid = ndimage.gaussian_filter(rng.normal(size=shape, loc=c[0], scale=c[1]), c[2], mode="nearest", truncate=4.0)
    liquid[liquid < c[3]] = 0
    return liquid


def spatter(x, c, rng):
    """Water drops (``c[5] == 0``) or mud. The 8-bit drops are clipped at 255 (the original lets a
    value above wrap), and an image without drops is left as it is (the original divides by zero)."""
    liquid = liquid_layer(x.shape[:2], c, rng)
    if c[5] == 0:
        drops = np.minimum(liquid * 255, 255).astype(np.uint8)
        m = drops * drop_rims(drops)
        m = m / m.max() * c[4] if m.max() > 0 else m
        return np.clip(x + m[..., None] * (np.array([175, 238, 238]) / 255.0), 0, 1)
    m = ndimage.gaussian_filter((liquid > c[3]).astype(np.float32), c[4], mode="nearest", truncate=4.0)
    m[m < 0.8] = 0
    return np.clip(x * (1 - m[..., None]) + m[..., None] * (np.array([63, 42, 20]) / 255.0), 0, 1)


def smear(image, radius, sigma, angle):
    """ImageMagick's motion blur as the published code reproduces it: copies of the image moved 0, 1,
    2, ... pixels along ``angle`` (whole pixels, the edge repeated), weighted by a one-sided Gaussian
    over ``2 * radius + 1`` steps, up to the first copy moved a whole image away."""
    steps = np.arange(2 * radius + 1)
    weights = np.exp(-(steps**2) / (2.0 * sigma**2))
    weights /= weights.sum()
    h, w = image.shape[:2]
    out = np.zeros_like(image)
    for step, weight in zip(steps, weights):
        dy = -int(np.ceil(step * np.sin(np.deg2rad(angle)) - 0.5))
        dx = -int(np.ceil(step * np.cos(np.deg2rad(angle)) - 0.5))
        if abs(dy) >= h or abs(dx) >= w:
            break
        out += weight * image[np.clip(np.arange(h) - dy, 0, h - 1)][:, np.clip(np.arange(w) - dx, 0, w - 1)]
    return out


def motion_blur(x, c, rng):
    return np.clip(smear(x, c[0], c[1], rng.uniform(-45, 45)), 0, 1)


def snow(x, c, rng):
    """Flakes: a zoomed, thresholded normal layer in 8 bits, smeared at an angle in [-135, -45), over
    the image lightened towards 1.5 times its grey (ITU-R 601) plus 0.5, and again upside down."""
    layer = clipped_zoom(rng.normal(size=(*x.shape[:2], 1), loc=c[0], scale=c[1]), c[2])
    layer[layer < c[3]] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8) / 255.0
    layer = smear(layer, c[4], c[5], rng.uniform(-135, -45))
    grey = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1)


def elastic_with(image, c, moved, noise):
    """The published elastic transform given its draws: the affine map taking three points to
    ``moved`` (solved as OpenCV's ``getAffineTransform`` does), each output pixel read from its
    inverse (``warpAffine``, reflect-101 border, at exact rather than 1/32-pixel positions), then
    ``noise`` (2, H, W) blurred (reflect, truncate 3) and scaled into a displacement field."""
    h, w = image.shape[:2]
    centre = np.float32([h, w]) // 2
    side = min(h, w) // 3
    corners = np.float32([centre + side, [centre[0] + side, centre[1] - side], centre - side])
    forward = np.linalg.solve(np.c_[corners, np.ones(3)], moved)  # [x y 1] @ forward = [x' y']
    linear, shift = forward[:2].T, forward[2]
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    source = np.linalg.inv(linear) @ (np.stack([xs.ravel(), ys.ravel()]) - shift[:, None])
    warped = displaced(image, source[1].reshape(h, w), source[0].reshape(h, w), "mirror")
    dx, dy = (ndimage.gaussian_filter(n, c[1], mode="reflect", truncate=3.0) * c[0] for n in noise)
    return np.clip(displaced(warped, ys + dy, xs + dx, "reflect"), 0, 1)

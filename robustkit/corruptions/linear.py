"""The linear parts of the corruptions as exact operators: 1-D matrices applied along the image's rows
and columns (blurs, zooms, box resizes, each with its reference's border rule), and small 2-D kernels.

A separable filter with any border rule is a matrix ``A`` (``n x n`` or ``m x n``): the filtered image
is ``A_rows @ image @ A_cols^T`` per channel, which reproduces the reference's border handling exactly
and costs two small matrix products per image.

Example:
    >>> a = gaussian_matrix(5, 1.0)
    >>> a.shape, bool(np.allclose(a.sum(axis=1), 1.0))
    ((5, 5), True)
    >>> box_resize_matrix(4, 2).tolist()
    [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]]
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


def _border_index(i: int, n: int, mode: str) -> int:
    """Where index ``i`` of an ``n``-long axis reads from under a border rule."""
    if n == 1:
        return 0
    if mode == "nearest":  # a b | b b b
        return min(max(i, 0), n - 1)
    if mode == "reflect":  # half-sample symmetric: c b a | a b c
        period = 2 * n
        i %= period
        return i if i < n else period - 1 - i
    if mode == "reflect101":  # whole-sample symmetric: c b | a b c
        period = 2 * n - 2
        i %= period
        return i if i < n else period - i
    raise ValueError(f"unknown border mode {mode!r}")


def filter_matrix(n: int, taps: np.ndarray, mode: str) -> np.ndarray:
    """The ``n x n`` matrix of correlating an axis with odd-length ``taps`` centred on each sample."""
    radius = len(taps) // 2
    matrix = np.zeros((n, n))
    for row in range(n):
        for k, tap in enumerate(taps):
            matrix[row, _border_index(row + k - radius, n, mode)] += tap
    return matrix


def gaussian_taps(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised Gaussian taps out to ``truncate`` standard deviations (SciPy's rule for the radius)."""
    radius = int(truncate * float(sigma) + 0.5)
    if sigma <= 0 or radius == 0:
        return np.ones(1)
    x = np.arange(-radius, radius + 1, dtype=float)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def gaussian_matrix(n: int, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """A Gaussian blur of one ``n``-long axis (scikit-image's ``gaussian``: border ``nearest``, truncate 4)."""
    return filter_matrix(n, gaussian_taps(sigma, truncate), mode)


def box_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's BOX resampling of one axis from ``n_in`` to ``n_out`` samples: each output averages the
    inputs whose centres fall inside its footprint (at least one when upsampling)."""
    scale = n_in / n_out
    support = 0.5 * max(scale, 1.0)
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), n_in)
        for j in range(first, last):
            offset = (j - centre + 0.5) / max(scale, 1.0)
            matrix[i, j] = 1.0 if -0.5 <= offset < 0.5 else 0.0
        matrix[i] /= max(matrix[i].sum(), 1e-12)
    return matrix


def zoom_matrix(n: int, factor: float) -> np.ndarray:
    """The centre crop of ``ceil(n / factor)`` samples, zoomed back by linear interpolation (SciPy's
    ``zoom``, order 1, corners aligned) and cropped to ``n`` around the centre."""
    crop = int(math.ceil(n / factor))
    top = (n - crop) // 2
    zoomed = int(round(crop * factor))
    trim = (zoomed - n) // 2
    matrix = np.zeros((n, n))
    for i in range(n):
        at = (i + trim) * (crop - 1) / (zoomed - 1) if zoomed > 1 else 0.0
        low = min(int(math.floor(at)), crop - 1)
        high = min(low + 1, crop - 1)
        frac = at - low
        matrix[i, top + low] += 1.0 - frac
        matrix[i, top + high] += frac
    return matrix


def apply_separable(x: tf.Tensor, rows: np.ndarray, cols: np.ndarray) -> tf.Tensor:
    """``rows @ image @ cols^T`` for every image and channel of an ``(N, H, W, C)`` batch."""
    rows_t = tf.constant(rows, x.dtype)
    cols_t = tf.constant(cols, x.dtype)
    x = tf.einsum("ih,nhwc->niwc", rows_t, x)
    return tf.einsum("jw,niwc->nijc", cols_t, x)


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The defocus kernel: an aliased disk of ``radius`` pixels, normalised, then blurred by a small
    Gaussian of ``alias_blur`` (a 3x3 one up to radius 8, 5x5 above, borders reflected without the
    edge sample), with its all-zero border rows and columns cut off."""
    half = 8 if radius <= 8 else int(radius)
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(float)
    disk /= disk.sum()
    size = 3 if radius <= 8 else 5
    offsets = np.arange(size) - size // 2
    taps = np.exp(-(offsets**2) / (2.0 * alias_blur**2))
    taps /= taps.sum()
    blur = filter_matrix(len(grid), taps, "reflect101")
    kernel = blur @ disk @ blur.T
    used = np.flatnonzero(np.abs(kernel).sum(axis=0) > 1e-12)
    cut = min(used[0], len(grid) - 1 - used[-1])
    return kernel[cut : len(grid) - cut, cut : len(grid) - cut]


def convolve_reflect101(x: tf.Tensor, kernel: np.ndarray) -> tf.Tensor:
    """Correlate every channel of an ``(N, H, W, C)`` batch with a square odd ``kernel``, the border
    reflected without its edge sample (OpenCV's default), through the FFT (faster than a direct
    convolution on the CPU from 3x3 kernels up); kernels wider than the image are folded."""
    height, width = x.shape[1], x.shape[2]
    half = kernel.shape[0] // 2
    if half < height and half < width:
        padded = tf.pad(x, [[0, 0], [half, half], [half, half], [0, 0]], mode="REFLECT")
        return _correlate_fft(padded, kernel)[:, :height, :width, :]
    out = tf.zeros_like(x)  # a tiny image: sum the shifted copies through border-folding matrices
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            if kernel[dy, dx] != 0:
                out += kernel[dy, dx] * apply_separable(
                    x, _shift_matrix(height, dy - half), _shift_matrix(width, dx - half)
                )
    return out


def _correlate_fft(padded: tf.Tensor, kernel: np.ndarray) -> tf.Tensor:
    """Correlation of every channel with ``kernel`` by the FFT, valid at the top-left ``(P-k+1, Q-k+1)``
    (where the circular product never wraps)."""
    rows, cols = padded.shape[1], padded.shape[2]
    taps = np.zeros((rows, cols))
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            taps[(-a) % rows, (-b) % cols] = kernel[a, b]
    spectrum = tf.constant(np.fft.rfft2(taps).astype(np.complex64))
    planes = tf.transpose(padded, [0, 3, 1, 2])
    out = tf.signal.irfft2d(tf.signal.rfft2d(planes) * spectrum, fft_length=[rows, cols])
    return tf.transpose(out, [0, 2, 3, 1])


def _shift_matrix(n: int, shift: int) -> np.ndarray:
    matrix = np.zeros((n, n))
    for i in range(n):
        matrix[i, _border_index(i + shift, n, "reflect101")] = 1.0
    return matrix


def sum_of_separable(terms: list[tuple[np.ndarray, np.ndarray]], weight: float) -> tuple[np.ndarray, np.ndarray]:
    """``weight * sum(rows (x) cols)`` over ``terms`` as a sparse operator on flattened images: for every
    output pixel the input pixels it reads (``(H*W, K)`` indices) and their coefficients (zero-padded)."""
    from scipy import sparse

    total = sparse.csr_matrix((terms[0][0].shape[0] * terms[0][1].shape[0],) * 2)
    for rows, cols in terms:
        total = total + sparse.kron(sparse.csr_matrix(rows), sparse.csr_matrix(cols), format="csr")
    total = (total * weight).tocsr()
    total.eliminate_zeros()
    width = int(np.diff(total.indptr).max())
    index = np.zeros((total.shape[0], width), np.int32)
    coefficient = np.zeros((total.shape[0], width))
    for pixel in range(total.shape[0]):
        begin, end = total.indptr[pixel], total.indptr[pixel + 1]
        index[pixel, : end - begin] = total.indices[begin:end]
        coefficient[pixel, : end - begin] = total.data[begin:end]
    return index, coefficient


def apply_sparse(x: tf.Tensor, index: np.ndarray, coefficient: np.ndarray) -> tf.Tensor:
    """A :func:`sum_of_separable` operator on every image and channel of an ``(N, H, W, C)`` batch."""
    flat = tf.reshape(x, (-1, x.shape[1] * x.shape[2], x.shape[3]))
    read = tf.gather(flat, tf.constant(index), axis=1)  # (N, H*W, K, C)
    out = tf.reduce_sum(read * tf.constant(coefficient[None, :, :, None], x.dtype), axis=2)
    return tf.reshape(out, tf.shape(x))

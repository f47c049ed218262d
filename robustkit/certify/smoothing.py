"""Randomized smoothing (Cohen, Rosenfeld and Kolter, ICML 2019): CERTIFY and PREDICT for any Keras classifier.

The smoothed classifier ``g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c)`` is constant within the
L2 radius ``sigma * Phi^-1(p_A)`` around x, where ``p_A`` is a lower confidence bound of the top
class's probability under noise. CERTIFY picks the top class from ``n0`` noisy samples, counts it
among ``n`` fresh ones, bounds ``p_A`` from below with a one-sided Clopper-Pearson interval at
level ``1 - alpha`` and abstains when the bound is below 1/2. PREDICT abstains unless a two-sided
binomial test separates the top two counts at level ``alpha``.

The noise is drawn and counted on device, in compiled batches of ``batch_size`` noisy inputs, two
batches in flight (the next one's noise is drawn while the model runs on this one), so memory is
bounded by the batch size whatever ``n`` is. Every noise vector is a function of the seed,
the example's index in the data set, the phase (selection or estimation) and the sample's number
(:mod:`robustkit.row_random`), so the counts do not depend on the batch size or on how the data
is cut, bit for bit.

An L-inf guarantee follows from the L2 one by ball inclusion: ``||d||_2 <= sqrt(dim) ||d||_inf``,
so the L-inf radius is the L2 radius over ``sqrt(dim)`` (``result.radius_linf``); for 8x8 digits
that is a factor 8, for 32x32x3 images 55: loose, and said so in reports.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    >>> result = certify(model, np.array([[1.0, 0.0], [-0.01, 0.0]], "float32"), sigma=0.5, n=2000, seed=0)
    >>> result.prediction.tolist(), bool(result.radius[0] > 0.5), float(result.radius[1])
    ([0, -1], True, 0.0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from scipy import stats

from robustkit._backend import ensure_tensorflow_backend
from robustkit.errors import ConfigError, InputError
from robustkit.inputs import as_float_tensor
from robustkit.logits import as_logits, num_classes_of
from robustkit.row_random import example_keys, mix_keys, row_normal_pairs
from robustkit.tracing import compiled, note_trace

ABSTAIN = -1
SELECTION, ESTIMATION, PREDICTION = 1, 2, 3  # the phases' streams of noise: independent of each other
ProgressFn = Callable[[int, int], None]
CALL_SECONDS = 1.0  # the time one compiled call aims at, between two progress reports


@dataclass
class SmoothingResult:
    """What CERTIFY found for each example (see the module docstring)."""

    prediction: np.ndarray  # the smoothed classifier's class, or ABSTAIN (-1)
    radius: np.ndarray  # certified L2 radius; 0 where it abstains
    p_lower: np.ndarray  # the lower confidence bound of p_A
    counts: np.ndarray  # (examples, classes): the n estimation samples' predictions
    selection_counts: np.ndarray  # (examples, classes): the n0 selection samples'
    sigma: float
    alpha: float
    dimension: int  # the number of input features (for the L-inf radius)
    seed: int

    @property
    def radius_linf(self) -> np.ndarray:
        """The certified L-inf radius: the L2 one over sqrt(dimension) (ball inclusion; loose)."""
        return self.radius / math.sqrt(self.dimension)

    @property
    def abstained(self) -> np.ndarray:
        return self.prediction == ABSTAIN

    def certified_accuracy(self, y: Any, radius: float, norm: str = "l2") -> float:
        """Share of examples predicted correctly with a certified radius of at least ``radius``."""
        certified = self.radius_linf if norm == "linf" else self.radius
        correct = (self.prediction == np.asarray(y)) & (certified >= radius)
        return float(np.mean(correct)) if len(correct) else 0.0


def lower_confidence_bound(count: Any, n: int, alpha: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound of a binomial proportion at level ``1 - alpha``.

    Example:
        >>> lower_confidence_bound([0, 990, 1000], 1000, 0.001).round(4).tolist()
        [0.0, 0.976, 0.9931]
    """
    count = np.asarray(count, np.float64)
    with np.errstate(invalid="ignore"):
        bound = stats.beta.ppf(alpha, count, n - count + 1)
    return np.where(count > 0, bound, 0.0)


def radius_from_counts(count_a: Any, n: int, sigma: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``p_A``'s lower bound and the certified L2 radius ``sigma * Phi^-1(p_A)`` (0 below 1/2: abstain).

    Example:
        >>> p, r = radius_from_counts([100_000, 50_000], 100_000, 0.25, 0.001)
        >>> r.round(4).tolist()
        [0.9529, 0.0]
    """
    p_lower = lower_confidence_bound(count_a, n, alpha)
    radius = np.where(p_lower >= 0.5, sigma * stats.norm.ppf(np.clip(p_lower, 0.5, 1.0)), 0.0)
    return p_lower, radius


_KEY_SIGNATURE = [tf.TensorSpec((), tf.int64), tf.TensorSpec((None,), tf.int64), tf.TensorSpec((), tf.int64)]


@tf.function(autograph=False, input_signature=_KEY_SIGNATURE)
def _phase_keys(seed: tf.Tensor, positions: tf.Tensor, phase: tf.Tensor) -> tf.Tensor:
    """Each example's key for one phase's noise (in one graph: a few dozen integer operations)."""
    return mix_keys(example_keys(seed, positions), phase)


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _sample_keys(keys: tf.Tensor, rows: tf.Tensor, samples: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Each row's example and noise key (its example's key mixed with the sample's number), fused by XLA:
    integer arithmetic, so the same keys on any backend."""
    example = rows // samples
    return example, mix_keys(tf.gather(keys, example), rows % samples)


def _count_fn(view: Any, example_shape: tuple, dtype: tf.DType, classes: int):
    """The compiled ``(x, keys, samples, sigma, batch) -> counts``: ``samples`` noisy copies of each
    example, ``batch`` noisy inputs per forward pass, counted per class on device."""
    dim = int(np.prod(example_shape))

    def build():
        def count(x, keys, samples, sigma, batch):
            note_trace()
            m = tf.shape(x)[0]
            total = tf.cast(m, tf.int64) * samples

            def chunk(start, counts):
                # Noise for a whole batch of rows, the last one repeated past the end: one shape for the
                # noise's compiled kernels, whatever the number of samples.
                size = tf.minimum(tf.cast(batch, tf.int64), total - start)
                rows = tf.minimum(start + tf.range(tf.cast(batch, tf.int64), dtype=tf.int64), total - 1)
                example, row_keys = _sample_keys(keys, rows, samples)
                noise = tf.reshape(row_normal_pairs(row_keys, 0, dim)[:size], (-1,) + example_shape)
                example = example[:size]
                noisy = tf.gather(x, example) + tf.cast(sigma, dtype) * tf.cast(noise, dtype)
                predicted = tf.argmax(view(noisy), axis=-1, output_type=tf.int32)
                cell = tf.cast(example, tf.int32) * classes + predicted
                found = tf.math.bincount(cell, minlength=m * classes, maxlength=m * classes, dtype=tf.int64)
                return start + tf.cast(batch, tf.int64), counts + tf.reshape(found, (m, classes))

            start = tf.constant(0, tf.int64)
            counts = tf.zeros((m, classes), tf.int64)
            # Two batches in flight: the next batch's noise is drawn while the model runs on this one.
            _, counts = tf.while_loop(lambda s, _: s < total, chunk, (start, counts), parallel_iterations=2)
            return counts

        return count

    signature = [
        tf.TensorSpec((None,) + example_shape, dtype),
        tf.TensorSpec((None,), tf.int64),
        tf.TensorSpec((), tf.int64),
        tf.TensorSpec((), tf.float32),
        tf.TensorSpec((), tf.int32),
    ]
    key = ("smoothing-counts", example_shape, dtype.name, view.source, classes)
    return compiled(view.model, key, build, input_signature=signature)


def _checked(model: Any, x: Any, sigma: Any, n: Any, alpha: Any, batch_size: Any) -> tuple[Any, tf.Tensor, int]:
    ensure_tensorflow_backend()
    for name, value in (("n", n), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}.")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma < math.inf:
        raise ConfigError(f"sigma must be a number > 0 (the noise's standard deviation), got {sigma!r}.")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1):
        raise ConfigError(f"alpha must be a number in (0, 1) (the chance that a certificate is wrong), got {alpha!r}.")
    x = as_float_tensor(x)
    if x.shape.rank is None or x.shape.rank < 2 or x.shape[0] == 0:
        raise InputError(f"x must be a non-empty batch of examples, got shape {tuple(x.shape)}.")
    if x.dtype in (tf.float16, tf.bfloat16):  # noise in half precision would be rounded coarsely: add it in float32
        x = tf.cast(x, tf.float32)
    view = as_logits(model, x_sample=x[:8])
    _ensure_noise_survives_rounding(x, float(sigma), getattr(model, "compute_dtype", None))
    return view, x, num_classes_of(view, x[:8])


NOISE_RESOLUTION = 1024  # sigma must span at least this many steps of the inputs' float spacing


def _spacing(value: float, dtype: tf.DType) -> float:
    """The distance from ``value`` to the next float of ``dtype`` (bfloat16 keeps 8 bits of mantissa)."""
    if dtype == tf.bfloat16:
        return 2.0 ** (math.floor(math.log2(value)) - 7) if value > 0 else 2.0**-133
    return float(np.spacing(np.array(value, dtype.as_numpy_dtype)))


def _ensure_noise_survives_rounding(x: tf.Tensor, sigma: float, model_dtype: Any = None) -> None:
    """The certificate is for Gaussian noise; noise that rounding flattens into a few steps is not, and a
    radius computed as if it were could exceed the truth. Refuse inputs so large that it would, in x's
    dtype or in the one the model computes in (a float32 Keras model rounds float64 inputs)."""
    largest = float(tf.reduce_max(tf.abs(tf.cast(x, tf.float64))))
    dtypes = [x.dtype] + ([tf.as_dtype(model_dtype)] if model_dtype is not None else [])
    coarsest = max(dtypes, key=lambda d: _spacing(largest, d))
    spacing = _spacing(largest, coarsest)
    if sigma < NOISE_RESOLUTION * spacing:
        raise InputError(
            f"sigma={sigma:g} is too small for inputs as large as {largest:g} in {coarsest.name}: the float spacing "
            f"there is {spacing:g}, so the noise would be rounded into a few steps and the certificate would not "
            f"hold. Rescale the inputs (and the model) toward [0, 1], use float64, or take sigma >= "
            f"{NOISE_RESOLUTION * spacing:g}."
        )


def sample_counts(
    model: Any,
    x: Any,
    sigma: float,
    n: int,
    *,
    seed: int = 0,
    index: Any = None,
    phase: int = ESTIMATION,
    batch_size: int = 1000,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """How often the model predicts each class on ``n`` noisy copies of each example: ``(examples, classes)``.

    Args:
        model, x: the base classifier and the examples.
        sigma: the noise's standard deviation, in input units.
        n: noisy copies per example.
        seed: the noise's seed.
        index: the examples' indices in the data set (default 0, 1, ...): the noise is keyed by them.
        phase: which stream of noise (selection 1, estimation 2, prediction 3: independent of each other).
        batch_size: noisy copies per forward pass.
        progress: called with the work done, for a progress bar.
    """
    view, x, classes = _checked(model, x, sigma, n, None, batch_size)
    return _counted(view, x, classes, sigma, n, seed, index, phase, batch_size, progress)


def _counted(view, x, classes, sigma, n, seed, index, phase, batch_size, progress) -> np.ndarray:
    """:func:`sample_counts` on inputs that :func:`_checked` returned."""
    positions = np.arange(len(x)) if index is None else np.asarray(index, np.int64)
    if positions.shape != (len(x),):
        raise InputError(f"index must hold one data-set index per example ({len(x)}), got shape {positions.shape}.")
    keys = _phase_keys(tf.constant(seed, tf.int64), tf.constant(positions, tf.int64), tf.constant(phase, tf.int64))
    count = _count_fn(view, tuple(x.shape[1:]), x.dtype, classes)
    # A block of examples per call, so that a progress report comes every second or so: the first call
    # takes about 16 batches of noise, the next ones as many examples as the first took per second.
    block = max(1, int(batch_size) * 16 // int(n))
    args = (tf.constant(n, tf.int64), tf.constant(sigma, tf.float32), tf.constant(batch_size, tf.int32))
    parts, start = [], 0
    while start < len(x):
        stop = min(start + block, len(x))
        began = time.perf_counter()
        parts.append(count(x[start:stop], keys[start:stop], *args).numpy())
        block = max(1, int((stop - start) * CALL_SECONDS / max(time.perf_counter() - began, 1e-3)))
        if progress is not None:
            progress(stop, len(x))
        start = stop
    return np.concatenate(parts)


def certify(
    model: Any,
    x: Any,
    y: Any = None,
    sigma: float = 0.25,
    n0: int = 100,
    n: int = 100_000,
    alpha: float = 0.001,
    *,
    seed: int = 0,
    index: Any = None,
    batch_size: int = 1000,
    progress: ProgressFn | None = None,
) -> SmoothingResult:
    """CERTIFY of Cohen et al. for each example of ``x`` (``y`` is not used to certify; it is checked
    for shape, and :meth:`SmoothingResult.certified_accuracy` takes it).

    Args:
        sigma: the noise's standard deviation, in input units.
        n0: samples that choose the top class; n: samples that estimate its probability.
        alpha: the chance that a certificate is wrong.
        seed, index: key the noise (see the module docstring).
        batch_size: noisy inputs per forward pass (memory is bounded by it).
        progress: called as ``progress(done, total)`` in noisy samples, both phases together.
    """
    if isinstance(n0, bool) or not isinstance(n0, (int, np.integer)) or n0 < 1:
        raise ConfigError(f"n0 must be an integer >= 1, got {n0!r}.")
    view, tensor, classes = _checked(model, x, sigma, n, alpha, batch_size)
    if y is not None and len(np.asarray(y)) != len(tensor):
        raise InputError(f"y has {len(np.asarray(y))} labels but x has {len(tensor)} examples.")
    m = len(tensor)

    def samples_done(offset: int, per_example: int) -> ProgressFn | None:
        if progress is None:
            return None
        return lambda done, _: progress(offset + done * per_example, m * (n0 + n))

    checked = (view, tensor, classes, sigma)
    selection = _counted(*checked, n0, seed, index, SELECTION, batch_size, samples_done(0, n0))
    top = np.argmax(selection, axis=1)
    counts = _counted(*checked, n, seed, index, ESTIMATION, batch_size, samples_done(m * n0, n))
    p_lower, radius = radius_from_counts(counts[np.arange(len(top)), top], n, sigma, alpha)
    prediction = np.where(p_lower >= 0.5, top, ABSTAIN)
    dimension = int(np.prod(tensor.shape[1:]))
    return SmoothingResult(prediction, radius, p_lower, counts, selection, float(sigma), float(alpha), dimension, seed)


def predict(
    model: Any,
    x: Any,
    sigma: float = 0.25,
    n: int = 100_000,
    alpha: float = 0.001,
    *,
    seed: int = 0,
    index: Any = None,
    batch_size: int = 1000,
) -> np.ndarray:
    """PREDICT of Cohen et al.: the smoothed classifier's class, or ABSTAIN (-1) where a two-sided binomial
    test at level ``alpha`` cannot tell the top two classes apart.

    Args:
        model: the base classifier (logits or probabilities).
        x: the examples.
        sigma: the noise's standard deviation, in input units.
        n: noisy copies per example.
        alpha: the test's level: a class is returned wrongly with probability at most ``alpha``.
        seed, index: the noise is keyed by the seed and each example's index in the data set.
        batch_size: noisy copies per forward pass.
    """
    view, tensor, classes = _checked(model, x, sigma, n, alpha, batch_size)
    counts = _counted(view, tensor, classes, sigma, n, seed, index, PREDICTION, batch_size, None)
    order = np.argsort(-counts, axis=1, kind="stable")
    rows = np.arange(len(counts))
    top, second = counts[rows, order[:, 0]], counts[rows, order[:, 1]] if counts.shape[1] > 1 else 0 * rows
    pvalues = np.array([stats.binomtest(int(a), int(a + b), 0.5).pvalue if a + b else 1.0 for a, b in zip(top, second)])
    return np.where(pvalues <= alpha, order[:, 0], ABSTAIN)

"""Sound bounds on a Keras classifier's margins: is every input in the ball classified as at its center?

For each example and class ``j``, :func:`margin_bounds` gives a lower bound of
``logit[y] - logit[j]`` over every input within ``eps`` of ``x`` (in the L-inf, L2 or L1 norm)
and inside the data's bounds. When every bound of an example is positive, no input in the ball
changes its prediction: the example is **verified**. A bound that is not positive proves nothing
either way; an attack may or may not find an adversarial example.

Methods: ``"ibp"`` (interval bounds, the last layer folded into the margins: about two forward
passes), ``"crown"`` (linear bounds, intermediate neurons bounded by CROWN as well: tighter on
most networks, far more work), ``"alpha-crown"`` (CROWN with the ReLUs' lower lines optimized by
gradient ascent, :mod:`robustkit.verify.alpha`: never looser than CROWN, about ``iterations`` times
its work), and ``"best"`` (all three, the largest bound for each margin: IBP can win on networks
trained for it).

The bounds are computed in the model's float32, like its logits; rounding can move both by about
1e-6 of the logits' size, so an example counts as verified only when its smallest margin bound
exceeds ``TOLERANCE`` times that size.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    >>> found = margin_bounds(model, np.array([[0.8, 0.5]], "float32"), [0], eps=0.1)
    >>> found.lower.round(4).tolist(), found.verified.tolist()  # margin 2 x0, x0 >= 0.7 in the ball
    ([[inf, 1.4]], [True])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from robustkit._backend import ensure_tensorflow_backend
from robustkit.errors import ConfigError
from robustkit.inputs import as_float_tensor, as_int_labels, ensure_in_bounds
from robustkit.ranges import broadcast_bounds, in_input_units, parse_eps
from robustkit.tracing import compiled
from robustkit.verify.alpha import AlphaSettings, optimized_bounds
from robustkit.verify.intervals import Interval, propagate_intervals
from robustkit.verify.linear_bounds import InputRegion, crown_intervals, lower_bound, through_affine
from robustkit.verify.network import Network, network_of
from robustkit.verify.rules import AffineRule

METHODS = ("ibp", "crown", "alpha-crown", "best")
NORMS = ("linf", "l2", "l1")
TOLERANCE = 1e-5
INTERVAL_BATCH = 1024  # examples per compiled call of the interval bounds


@dataclass
class MarginBounds:
    """Lower bounds of ``logit[y] - logit[j]`` per example and class (``inf`` at ``j = y``)."""

    lower: np.ndarray
    ibp: np.ndarray | None  # the interval bounds, where computed
    crown: np.ndarray | None  # the linear bounds, where computed
    scale: np.ndarray  # per example: 1 + the largest absolute logit at x (the rounding tolerance's unit)
    method: str
    alpha: np.ndarray | None = None  # the optimized linear bounds (alpha-CROWN), where computed

    @property
    def worst(self) -> np.ndarray:
        """Each example's smallest margin bound."""
        return self.lower.min(axis=1)

    @property
    def verified(self) -> np.ndarray:
        """Examples whose every margin is proved positive (beyond rounding)."""
        return self.worst > TOLERANCE * self.scale


def input_region(x: tf.Tensor, eps: float, norm: str, bounds: tuple[np.ndarray, np.ndarray]) -> InputRegion:
    low = tf.constant(np.broadcast_to(bounds[0], x.shape[1:]), x.dtype)
    high = tf.constant(np.broadcast_to(bounds[1], x.shape[1:]), x.dtype)
    return InputRegion(x, tf.maximum(x - eps, low), tf.minimum(x + eps, high), eps, norm)


def margin_spec(labels: tf.Tensor, classes: int, dtype: tf.DType) -> tf.Tensor:
    """Rows ``e_y - e_j`` for every class j: shape ``(batch, classes, classes)``."""
    return tf.one_hot(labels, classes, dtype=dtype)[:, None, :] - tf.eye(classes, dtype=dtype)[None]


def ibp_margins(network: Network, intervals: list[Interval], spec: tf.Tensor) -> tf.Tensor:
    """Interval margins, with the last affine node folded into the specification (exact through it)."""
    last = network.nodes[-1]
    if not isinstance(last.rule, AffineRule):
        lower, upper = intervals[-1]
        positive, negative = tf.maximum(spec, 0.0), tf.minimum(spec, 0.0)
        return tf.reduce_sum(positive * lower[:, None] + negative * upper[:, None], axis=-1)
    # spec W is linear in spec: read W's rows off once (one product per class, not per example and row)
    classes = network.shapes[-1][0]
    rows, biases = through_affine(last, tf.eye(classes, dtype=spec.dtype)[None], network.shapes[last.inputs[0]])
    weights = tf.reshape(rows, (classes, -1))  # row j: the gradient of logit j with respect to the last input
    lower, upper = intervals[last.inputs[0]]
    center = tf.reshape((lower + upper) / 2, (tf.shape(spec)[0], -1))
    radius = tf.reshape((upper - lower) / 2, (tf.shape(spec)[0], -1))
    combined = tf.einsum("brc,ch->brh", spec, weights)  # each margin's weights on the last input
    at_center = tf.einsum("brc,bc->br", spec, tf.matmul(center, weights, transpose_b=True) + biases)
    return at_center - tf.einsum("brh,bh->br", tf.abs(combined), radius)


def _interval_margins(network: Network, x: tf.Tensor, labels: tf.Tensor, eps: float, norm: str, bounds) -> np.ndarray:
    """IBP's margins, compiled once per model and run on large batches (two forward passes' memory)."""
    classes = network.shapes[-1][0]

    def build():
        def margins(lower: tf.Tensor, upper: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
            intervals = propagate_intervals(network, lower, upper)
            return ibp_margins(network, intervals, margin_spec(labels, classes, lower.dtype))

        return margins

    compiled_margins = compiled(network, ("interval-margins",), build)
    parts = []
    for start in range(0, int(x.shape[0]), INTERVAL_BATCH):
        region = input_region(x[start : start + INTERVAL_BATCH], eps, norm, bounds)
        parts.append(compiled_margins(region.lower, region.upper, labels[start : start + INTERVAL_BATCH]).numpy())
    return np.concatenate(parts)


def _linear_margins(
    network: Network, x: tf.Tensor, labels: tf.Tensor, eps: float, norm: str, bounds, batch: int, alpha
) -> tuple[np.ndarray, np.ndarray | None]:
    """CROWN's margins and, with ``alpha`` settings, alpha-CROWN's (never below CROWN's), ``batch``
    examples at a time (the memory grows with the batch)."""
    plain, optimized = [], []
    for start in range(0, int(x.shape[0]), batch):
        region = input_region(x[start : start + batch], eps, norm, bounds)
        spec = margin_spec(labels[start : start + batch], network.shapes[-1][0], region.center.dtype)
        intervals = crown_intervals(network, region)
        crown = lower_bound(network, network.output, spec, intervals, region).numpy()
        plain.append(crown)
        if alpha is not None:
            found = optimized_bounds(network, region, spec, alpha, base=intervals)
            optimized.append(np.maximum(crown, found.bound.numpy()))
    return np.concatenate(plain), (np.concatenate(optimized) if alpha is not None else None)


def checked_inputs(model, x, y, eps, norm, bounds, method):
    """The network, inputs, labels, eps and bounds, checked (a clear error for each bad one)."""
    ensure_tensorflow_backend()
    if norm not in NORMS:
        raise ConfigError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}.")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    network = network_of(model)
    if len(network.shapes[-1]) != 1:
        raise ConfigError(f"The model's output has shape {network.shapes[-1]}; bounds need logits (batch, classes).")
    x = tf.cast(as_float_tensor(x), tf.float32)
    if tuple(x.shape[1:]) != network.shapes[0]:
        raise ConfigError(f"x has examples of shape {tuple(x.shape[1:])}; the model takes {network.shapes[0]}.")
    low, high = broadcast_bounds(bounds, tuple(x.shape[1:]))
    ensure_in_bounds(x, low, high)
    labels = as_int_labels(y, network.shapes[-1][0], int(x.shape[0]))
    return network, x, labels, in_input_units(parse_eps(eps), (low, high)), (low, high)


def margin_bounds(
    model,
    x,
    y,
    eps: float | str,
    *,
    norm: str = "linf",
    bounds=(0.0, 1.0),
    method: str = "best",
    batch_size: int = 32,
    alpha: AlphaSettings | None = None,
) -> MarginBounds:
    """Lower bounds of every margin ``logit[y] - logit[j]`` over the ball of radius ``eps`` around each
    example of ``x``, within ``bounds`` (see the module docstring).

    Args:
        model: a Keras model made of the layers :mod:`robustkit.verify.network` lists.
        x, y: the examples and their labels (class indices or one-hot rows).
        eps, norm: the ball's radius and norm (``"linf"``, ``"l2"`` or ``"l1"``): a number in input units, or
            a fraction of the input range written as a string (``"8/255"``), as the attacks take it.
        method: ``"ibp"``, ``"crown"``, ``"alpha-crown"`` or ``"best"``.
        batch_size: examples bounded together by CROWN (its memory grows with it).
        alpha: alpha-CROWN's settings (:class:`~robustkit.verify.alpha.AlphaSettings`; its defaults when None).
    """
    network, x, labels, radius, bounds = checked_inputs(model, x, y, eps, norm, bounds, method)
    found = {}
    if method in ("ibp", "best"):
        found["ibp"] = _interval_margins(network, x, labels, radius, norm, bounds).astype(np.float64)
    if method != "ibp":
        settings = (alpha or AlphaSettings()) if method in ("alpha-crown", "best") else None
        crown, optimized = _linear_margins(network, x, labels, radius, norm, bounds, max(1, int(batch_size)), settings)
        found["crown"] = crown.astype(np.float64)
        if optimized is not None:
            found["alpha-crown"] = optimized.astype(np.float64)
    own = np.eye(network.shapes[-1][0], dtype=bool)[labels.numpy()]
    for values in found.values():
        values[own] = np.inf
    lower = np.maximum.reduce(list(found.values())) if method == "best" else found[method]
    logits = compiled(network, ("logits",), lambda: network.logits)(x)
    scale = 1.0 + np.max(np.abs(logits.numpy()), axis=1)
    return MarginBounds(lower, found.get("ibp"), found.get("crown"), scale, method, alpha=found.get("alpha-crown"))

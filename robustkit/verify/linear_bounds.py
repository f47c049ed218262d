"""Linear bound propagation (CROWN, Zhang et al. 2018): a lower bound of a linear function of a node's
output over every input in a region, carried backward through the network.

The bound starts as ``spec . z_target`` and moves one node at a time toward the input, each step
its node's linear rule (:mod:`robustkit.verify.rules`). Through an affine node it becomes
``(spec W) . z_in + spec . b``: a vector-Jacobian product, so any affine layer works without code
of its own. Through a (leaky) ReLU whose input interval ``[l, u]`` straddles zero, a positive
coefficient takes the lower line through the origin (slope 1 when ``u >= -l``, else the negative
slope: the adaptive choice) and a negative one the chord from ``(l, f(l))`` to ``(u, f(u))``. Other
monotone nodes (sigmoid, tanh, max pooling) are bounded by the constants of their own interval. At the input,
the linear function is minimised exactly over the box, and over the L2 or L1 ball by its dual norm;
the larger (tighter) of the two is the bound, since the region lies in both.

Example:
    >>> import keras, numpy as np, tensorflow as tf
    >>> from robustkit.verify.network import network_of
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.set_weights([np.array([[1.0], [-2.0]], "float32"), np.zeros(1, "float32")])
    >>> region = InputRegion(tf.zeros((1, 2)), tf.fill((1, 2), -1.0), tf.ones((1, 2)), 1.0, "linf")
    >>> float(lower_bound(network_of(model), 1, tf.ones((1, 1, 1)), [], region)[0, 0])  # min of x0 - 2 x1
    -3.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from robustkit.verify.intervals import Interval, propagate_intervals
from robustkit.verify.network import Network, Node
from robustkit.verify.rules import AffineRule, ReluRule


@dataclass
class InputRegion:
    """The inputs a bound holds for: the ``norm`` ball of radius ``eps`` around ``center``, within the box
    ``[lower, upper]`` (which already holds the data's bounds and, for L-inf, the ball itself)."""

    center: tf.Tensor
    lower: tf.Tensor
    upper: tf.Tensor
    eps: float
    norm: str


def through_affine(node: Node, coefficients: tf.Tensor, input_shape: tuple[int, ...]) -> tuple[tf.Tensor, tf.Tensor]:
    """``(spec W, spec . b)`` for an affine node ``z_out = W z_in + b``; ``coefficients`` has shape
    ``(batch, rows, *output_shape)``."""
    if not isinstance(node.rule, AffineRule):
        raise TypeError(f"node {node.name!r} is {node.kind}, not affine")
    return node.rule.backward(coefficients, input_shape)


def _at_input(coefficients: tf.Tensor, region: InputRegion) -> tf.Tensor:
    """The minimum of ``coefficients . x`` over the region (exact over the box; by the dual norm over a ball)."""
    flat = tf.reshape(coefficients, (tf.shape(coefficients)[0], tf.shape(coefficients)[1], -1))
    low = tf.reshape(region.lower, (tf.shape(flat)[0], 1, -1))
    high = tf.reshape(region.upper, (tf.shape(flat)[0], 1, -1))
    box = tf.reduce_sum(tf.maximum(flat, 0.0) * low + tf.minimum(flat, 0.0) * high, axis=-1)
    if region.norm == "linf":
        return box
    dual = tf.norm(flat, ord=2, axis=-1) if region.norm == "l2" else tf.reduce_max(tf.abs(flat), axis=-1)
    center = tf.reshape(region.center, (tf.shape(flat)[0], 1, -1))
    return tf.maximum(box, tf.reduce_sum(flat * center, axis=-1) - region.eps * dual)


def _at(intervals: list[Interval], k: int) -> Interval | None:
    return intervals[k] if k < len(intervals) else None


def lower_bound(
    network: Network,
    target: int,
    spec: tf.Tensor,
    intervals: list[Interval],
    region: InputRegion,
    slopes: dict[int, tf.Tensor] | None = None,
    split_terms: dict[int, tf.Tensor] | None = None,
    seen: dict[int, tf.Tensor] | None = None,
) -> tf.Tensor:
    """A lower bound of ``sum(spec * z_target)`` per example and row.

    Args:
        network: the model's network.
        target: the node bounded.
        spec: shape ``(batch, rows, *shape of node target)``.
        intervals: those of the nodes before ``target`` (at least).
        region: the inputs.
        slopes: per ReLU node, the lower lines' slopes of its straddling neurons, shape
            ``(batch, rows, *its shape)`` (alpha-CROWN's variables); CROWN's adaptive ones where absent.
        split_terms: per node, a term added to the coefficients on its output before they pass it:
            beta-CROWN's Lagrange terms of the split constraints on that node's neurons.
        seen: filled with the coefficients on each node's output as they pass it (index 0: the input's).
    """
    pending: dict[int, tf.Tensor] = {target: spec}
    bias = tf.zeros(tf.shape(spec)[:2], spec.dtype)
    for k in range(target, -1, -1):
        coefficients = pending.pop(k, None)
        if coefficients is None:
            continue
        if split_terms is not None and k in split_terms:
            coefficients = coefficients + split_terms[k]
        if seen is not None:
            seen[k] = coefficients
        node = network.nodes[k]
        if k == 0:
            bias += _at_input(coefficients, region)
            continue
        known = [_at(intervals, i) for i in node.inputs]  # only a ReLU's rule reads them
        own = _at(intervals, k)  # None for the target itself, whose interval is being bounded
        if slopes is not None and k in slopes and isinstance(node.rule, ReluRule):
            backward, offset = node.rule.relaxed(coefficients, known[0], slopes[k])
        else:
            backward, offset = node.rule.linear(coefficients, known, own, [network.shapes[i] for i in node.inputs])
        bias += offset
        for i, value in zip(node.inputs, backward):
            if value is None:
                continue
            pending[i] = pending[i] + value if i in pending else value
    return bias


def neuron_bounds(
    network: Network, target: int, intervals: list[Interval], region: InputRegion, budget: int = 1 << 24
) -> Interval:
    """CROWN's lower and upper bound of every neuron of node ``target``, a block of neurons at a time so
    that the coefficients carried backward stay within ``budget`` numbers."""
    shape = network.shapes[target]
    size = int(np.prod(shape))
    batch = int(region.center.shape[0])
    widest = max(int(np.prod(s)) for s in network.shapes[: target + 1])
    block = max(1, budget // max(1, 2 * batch * widest))
    lows, highs = [], []
    for start in range(0, size, block):
        rows = tf.one_hot(tf.range(start, min(start + block, size)), size, dtype=region.center.dtype)
        rows = tf.concat([rows, -rows], axis=0)
        spec = tf.tile(tf.reshape(rows, (1, -1, *shape)), (batch,) + (1,) * (len(shape) + 1))
        found = lower_bound(network, target, spec, intervals, region)
        half = tf.shape(found)[1] // 2
        lows.append(found[:, :half])
        highs.append(-found[:, half:])
    full = (batch, *shape)
    return tf.reshape(tf.concat(lows, axis=1), full), tf.reshape(tf.concat(highs, axis=1), full)


def crown_intervals(network: Network, region: InputRegion) -> list[Interval]:
    """Every node's interval, narrowed by CROWN wherever a ReLU's relaxation depends on it."""
    relu_inputs = {n.inputs[0] for n in network.nodes if n.rule.relaxes_input}

    def tighten(k: int, interval: Interval, intervals: list[Interval]) -> Interval:
        lower, upper = interval
        if k not in relu_inputs or not network.nodes[k].rule.exact_through:
            return interval
        if not bool(tf.reduce_any((lower < 0) & (upper > 0))):
            return interval  # every ReLU after it is stable: the intervals are exact enough
        low, high = neuron_bounds(network, k, intervals, region)
        return tf.maximum(lower, low), tf.minimum(upper, high)

    return propagate_intervals(network, region.lower, region.upper, tighten)

"""Linear bound propagation (CROWN, Zhang et al. 2018): a lower bound of a linear function of a node's
output over every input in a region, carried backward through the network.

The bound starts as ``spec . z_target`` and moves one node at a time toward the input. Through an
affine node it becomes ``(spec W) . z_in + spec . b``: a vector-Jacobian product
(:func:`robustkit.gradients.vector_jacobian_product`), so any affine layer works without code of its
own. Through a (leaky) ReLU whose input interval ``[l, u]`` straddles zero, a positive coefficient
takes the lower line through the origin (slope 1 when ``u >= -l``, else the negative slope: the
adaptive choice) and a negative one the chord from ``(l, f(l))`` to ``(u, f(u))``. Other monotone
nodes (sigmoid, tanh, max pooling) are bounded by the constants of their own interval. At the input,
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

from robustkit.gradients import vector_jacobian_product
from robustkit.verify.intervals import Interval
from robustkit.verify.network import Network, Node


@dataclass
class InputRegion:
    """The inputs a bound holds for: the ``norm`` ball of radius ``eps`` around ``center``, within the box
    ``[lower, upper]`` (which already holds the data's bounds and, for L-inf, the ball itself)."""

    center: tf.Tensor
    lower: tf.Tensor
    upper: tf.Tensor
    eps: float
    norm: str


def _per_row(values: tf.Tensor) -> tf.Tensor:
    """Sum over every axis but the first two (example, row of the specification)."""
    return tf.reduce_sum(tf.reshape(values, (tf.shape(values)[0], tf.shape(values)[1], -1)), axis=-1)


def through_affine(node: Node, coefficients: tf.Tensor, input_shape: tuple[int, ...]) -> tuple[tf.Tensor, tf.Tensor]:
    """``(spec W, spec . b)`` for an affine node ``z_out = W z_in + b``; ``coefficients`` has shape
    ``(batch, rows, *output_shape)``."""
    batch, rows = tf.shape(coefficients)[0], tf.shape(coefficients)[1]
    flat = tf.reshape(coefficients, tf.concat([[batch * rows], tf.shape(coefficients)[2:]], axis=0))
    zeros = tf.zeros(tf.concat([[batch * rows], input_shape], axis=0), coefficients.dtype)
    backward = vector_jacobian_product(node.apply, zeros, flat)
    offset = node.apply(tf.zeros((1, *input_shape), coefficients.dtype))  # f(0) = b
    backward = tf.reshape(backward, tf.concat([[batch, rows], input_shape], axis=0))
    return backward, _per_row(coefficients * offset[None])


def _relu_lines(slope: float, lower: tf.Tensor, upper: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(lower slope, upper slope, upper intercept)`` of a leaky ReLU ``max(x, slope x)`` on ``[l, u]``;
    both lines pass through the origin but the upper one on a straddling interval."""
    active, inactive = lower >= 0, upper <= 0
    value_low, value_high = tf.maximum(lower, slope * lower), tf.maximum(upper, slope * upper)
    width = tf.where(active | inactive, tf.ones_like(upper), upper - lower)
    chord = (value_high - value_low) / width
    stable_slope = tf.where(active, tf.ones_like(lower), slope * tf.ones_like(lower))
    straddling = ~(active | inactive)
    lower_slope = tf.where(straddling, tf.where(upper >= -lower, 1.0, slope) * tf.ones_like(lower), stable_slope)
    upper_slope = tf.where(straddling, chord, stable_slope)
    intercept = tf.where(straddling, value_low - chord * lower, tf.zeros_like(lower))
    return lower_slope, upper_slope, intercept


def _through_relaxation(
    node: Node, coefficients: tf.Tensor, input_interval: Interval, own_interval: Interval
) -> tuple[tf.Tensor | None, tf.Tensor]:
    """The coefficients on a monotone node's input (None: bounded by constants) and the bias it adds."""
    positive, negative = tf.maximum(coefficients, 0.0), tf.minimum(coefficients, 0.0)
    if node.kind == "activation" and node.relu_slope is not None:
        lower_slope, upper_slope, intercept = _relu_lines(node.relu_slope, *input_interval)
        backward = positive * lower_slope[:, None] + negative * upper_slope[:, None]
        return backward, _per_row(negative * intercept[:, None])
    low, high = own_interval
    return None, _per_row(positive * low[:, None] + negative * high[:, None])


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


def lower_bound(
    network: Network, target: int, spec: tf.Tensor, intervals: list[Interval], region: InputRegion
) -> tf.Tensor:
    """A lower bound of ``sum(spec * z_target)`` per example and row: ``spec`` has shape
    ``(batch, rows, *shape of node target)``; ``intervals`` holds those of the nodes before ``target``."""
    pending: dict[int, tf.Tensor] = {target: spec}
    bias = tf.zeros(tf.shape(spec)[:2], spec.dtype)
    for k in range(target, -1, -1):
        coefficients = pending.pop(k, None)
        if coefficients is None:
            continue
        node = network.nodes[k]
        feeds: list[tuple[int, tf.Tensor]] = []
        if node.kind == "input":
            bias += _at_input(coefficients, region)
        elif node.kind == "affine":
            backward, offset = through_affine(node, coefficients, network.shapes[node.inputs[0]])
            bias += offset
            feeds = [(node.inputs[0], backward)]
        elif node.kind == "add":
            feeds = [(i, coefficients) for i in node.inputs]
        else:
            backward_or_none, offset = _through_relaxation(node, coefficients, intervals[node.inputs[0]], intervals[k])
            bias += offset
            feeds = [] if backward_or_none is None else [(node.inputs[0], backward_or_none)]
        for i, value in feeds:
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

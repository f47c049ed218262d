"""alpha-CROWN (Xu et al., ICLR 2021): CROWN whose ReLU lower lines are optimized.

CROWN bounds a ReLU whose input interval ``[l, u]`` straddles 0 from below by a line through the
origin of slope 1 or 0 (its adaptive choice). Every slope in ``[0, 1]`` (``[a, 1]`` for a leaky ReLU of
negative slope ``a``) gives a sound bound, so the slopes become variables: one per neuron and per
bounded quantity. Projected gradient ascent (:mod:`robustkit.verify.ascent`) moves them to raise the
bound. The quantities are the specification's rows and, when they fit in ``budget`` numbers, the lower
and upper bound of every neuron that feeds a ReLU after the first one: those intermediate bounds are
recomputed at each step with their own slopes, and the specification's bound follows them. The ascent
starts at CROWN's slopes and keeps the best bound seen, and the result is the larger of it and CROWN's,
so it is never looser than CROWN.

Example:
    >>> import keras, numpy as np, tensorflow as tf
    >>> from robustkit.verify.linear_bounds import InputRegion
    >>> from robustkit.verify.network import network_of
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="relu"), keras.layers.Dense(1)])
    >>> one, zero = np.ones((1, 1), "float32"), np.zeros(1, "float32")
    >>> model.set_weights([one, zero, one, zero])
    >>> region = InputRegion(tf.zeros((1, 1)), -tf.ones((1, 1)), 2 * tf.ones((1, 1)), 1.0, "linf")
    >>> spec = tf.constant([[[0.0, 1.0]]])  # the logit relu(x) of the two logits [0, relu(x)]
    >>> found = optimized_bounds(network_of(model), region, spec, AlphaSettings(iterations=30))
    >>> round(float(found.bound[0, 0]), 4)  # CROWN's slope 1 gives -1; slope 0 proves relu(x) >= 0
    0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from robustkit.tracing import compiled
from robustkit.verify.ascent import ascend
from robustkit.verify.intervals import propagate_intervals
from robustkit.verify.linear_bounds import InputRegion, crown_intervals, lower_bound
from robustkit.verify.network import Network
from robustkit.verify.rules import Interval, ReluRule, relu_lines


@dataclass(frozen=True)
class AlphaSettings:
    """How hard alpha-CROWN optimizes.

    Args:
        iterations: Adam steps (each one CROWN pass).
        learning_rate: Adam's step size for the slopes.
        intermediate: also optimize the bounds of the neurons that feed ReLUs, when they fit in ``budget``.
        budget: the most slope variables per example for the intermediate bounds.
    """

    iterations: int = 20
    learning_rate: float = 0.1
    intermediate: bool = True
    budget: int = 1 << 22


@dataclass
class Optimized:
    """alpha-CROWN's result: the best bound per example and row, the tightest intervals of every node,
    and the specification's slopes per ReLU node (a starting point for branch and bound)."""

    bound: tf.Tensor
    intervals: list[Interval]
    slopes: dict[int, tf.Tensor]


def relu_nodes(network: Network) -> list[int]:
    """The nodes whose linear rule relaxes their input's interval (the (leaky) ReLUs)."""
    return [k for k, node in enumerate(network.nodes) if node.rule.relaxes_input]


def negative_slope(network: Network, relu: int) -> float:
    """The slope below zero of a (leaky) ReLU node: the least slope its lower line may take."""
    rule = network.nodes[relu].rule
    if not isinstance(rule, ReluRule):
        raise TypeError(f"node {rule.name!r} is {rule.kind}, not a ReLU")
    return rule.slope


def neuron_rows(shape: tuple[int, ...], batch: int, dtype: tf.DType) -> tf.Tensor:
    """Rows ``e_i`` then ``-e_i`` for every neuron of a node: its lower then (negated) upper bounds."""
    size = int(np.prod(shape))
    eye = tf.eye(size, dtype=dtype)
    rows = tf.reshape(tf.concat([eye, -eye], axis=0), (1, 2 * size, *shape))
    return tf.tile(rows, (batch,) + (1,) * (len(shape) + 1))


def start_slopes(network: Network, intervals: list[Interval], relu: int, rows: int) -> tf.Tensor:
    """CROWN's adaptive lower slopes of a ReLU node, one copy per row: shape ``(batch, rows, *shape)``."""
    lower, upper = intervals[network.nodes[relu].inputs[0]]
    slope, _, _ = relu_lines(negative_slope(network, relu), lower, upper)
    return tf.repeat(slope[:, None], rows, axis=1)


def optimized_targets(network: Network, settings: AlphaSettings, batch: int) -> list[int]:
    """The nodes feeding a ReLU whose neurons' bounds are optimized: those after another ReLU, if they fit."""
    relus = relu_nodes(network)
    feeding = sorted({network.nodes[r].inputs[0] for r in relus})
    targets = [m for m in feeding if any(r < m for r in relus) and network.nodes[m].rule.exact_through]
    size = lambda k: int(np.prod(network.shapes[k]))  # noqa: E731
    variables = sum(2 * size(m) * sum(size(r) for r in relus if r < m) for m in targets)
    return targets if settings.intermediate and variables * batch <= settings.budget else []


def _pairs(network: Network, targets: list[int]) -> list[tuple[int, int]]:
    """(bounded node, ReLU node) of every slope variable, the specification's last (target = output)."""
    relus = relu_nodes(network)
    return [(m, r) for m in [*targets, network.output] for r in relus if r < m]


def _objective(network: Network, region: InputRegion, spec: tf.Tensor, base: list[Interval], targets, pairs):
    def bounds(values: list[tf.Tensor]) -> tuple[tf.Tensor, list[Interval]]:
        chosen = dict(zip(pairs, values))

        def tighten(k: int, interval: Interval, intervals: list[Interval]) -> Interval:
            low, high = tf.maximum(interval[0], base[k][0]), tf.minimum(interval[1], base[k][1])
            if k not in targets:
                return low, high
            shape, size = network.shapes[k], int(np.prod(network.shapes[k]))
            rows = neuron_rows(shape, tf.shape(low)[0], low.dtype)
            slopes = {r: v for (m, r), v in chosen.items() if m == k}
            found = lower_bound(network, k, rows, intervals, region, slopes)
            full = tf.concat([tf.shape(low)[:1], shape], axis=0)
            return tf.maximum(low, tf.reshape(found[:, :size], full)), tf.minimum(
                high, -tf.reshape(found[:, size:], full)
            )

        intervals = propagate_intervals(network, region.lower, region.upper, tighten)
        slopes = {r: v for (m, r), v in chosen.items() if m == network.output}
        return lower_bound(network, network.output, spec, intervals, region, slopes), intervals

    return bounds


def optimized_bounds(
    network: Network, region: InputRegion, spec: tf.Tensor, settings: AlphaSettings, base: list[Interval] | None = None
) -> Optimized:
    """alpha-CROWN's lower bound of ``spec . logits`` over ``region`` (see the module docstring).

    Args:
        network: the model's network.
        region: the inputs, a batch of them.
        spec: shape ``(batch, rows, classes)``.
        settings: the optimization's settings.
        base: sound intervals of every node to start from and stay within (CROWN's when None).
    """
    base = crown_intervals(network, region) if base is None else base
    batch, rows = int(spec.shape[0]), int(spec.shape[1])
    targets = optimized_targets(network, settings, batch)
    pairs = _pairs(network, targets)
    count = {m: rows if m == network.output else 2 * int(np.prod(network.shapes[m])) for m, _ in pairs}
    start = [start_slopes(network, base, r, count[m]) for m, r in pairs]
    limits = [(negative_slope(network, r), 1.0) for _, r in pairs]

    def build():
        def run(center, lower, upper, eps, spec, base, start):
            region_now = InputRegion(center, lower, upper, eps, region.norm)
            objective = _objective(network, region_now, spec, base, targets, pairs)
            return ascend(objective, start, limits, settings.iterations, settings.learning_rate)

        return run

    key = ("alpha-crown", region.norm, tuple(targets), settings)
    eps = tf.constant(region.eps, region.center.dtype)
    best, intervals, last = compiled(network, key, build)(
        region.center, region.lower, region.upper, eps, spec, list(base), start
    )
    output_slopes = {r: v for (m, r), v in zip(pairs, last) if m == network.output}
    return Optimized(best, list(intervals), output_slopes)

"""Interval bound propagation (IBP, Gowal et al. 2018): a box of inputs through a network, node by node.

Each node's rule (:mod:`robustkit.verify.rules`) gives its interval: an affine node maps the box's
center through the layer and its radius through the layer's absolute weights; a monotone node
(activation, max pooling) maps the lower and upper corners; an add node sums them. Each interval
holds every value the node takes for any input in the box. It costs about two forward passes.

Example:
    >>> import keras, tensorflow as tf
    >>> from robustkit.verify.network import network_of
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, kernel_initializer="ones")])
    >>> lower, upper = propagate_intervals(network_of(model), tf.constant([[-1.0]]), tf.constant([[2.0]]))[-1]
    >>> lower.numpy().tolist(), upper.numpy().tolist()
    ([[-1.0, -1.0]], [[2.0, 2.0]])
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from robustkit.verify.network import Network, Node
from robustkit.verify.rules import Interval

__all__ = ["Interval", "Tighten", "node_interval", "propagate_intervals"]
Tighten = Callable[[int, Interval, list[Interval]], Interval]


def node_interval(node: Node, inputs: list[Interval]) -> Interval:
    """The interval of one node's output, from the intervals of its inputs (its rule's)."""
    return node.rule.interval(inputs)


def propagate_intervals(
    network: Network, lower: tf.Tensor, upper: tf.Tensor, tighten: Tighten | None = None
) -> list[Interval]:
    """The interval of every node for inputs in the box ``[lower, upper]`` (batches of boxes).

    Args:
        network: the model's :class:`~robustkit.verify.network.Network` (:func:`network_of`).
        lower, upper: the box's corners, a batch of them of the input's shape.
        tighten: ``tighten(k, interval, intervals)`` may narrow node ``k``'s interval (a linear bound
            does) before the nodes after it use it.

    Returns:
        Every node's ``(lower, upper)``, in the network's order (the input's first).
    """
    intervals: list[Interval] = [(lower, upper)]
    for k, node in enumerate(network.nodes[1:], start=1):
        interval = node_interval(node, [intervals[i] for i in node.inputs])
        intervals.append(tighten(k, interval, intervals) if tighten is not None else interval)
    return intervals

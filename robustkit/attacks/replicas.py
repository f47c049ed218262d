"""Batches side by side on the replicas of a ``tf.distribute`` strategy, one batch each.

Attacks never mix examples, so nothing crosses replicas: each replica attacks exactly the batch
(with the seed) that one device would, and the results are one device's, bit for bit.

Example:
    >>> map_on_replicas(lambda a, b: a + b, [(1, 2), (3, 4)])
    [3, 7]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import tensorflow as tf

T = TypeVar("T")


def map_on_replicas(fn: Callable[..., T], items: Sequence[tuple], strategy: Any = None) -> list[T]:
    """``fn(*item)`` for every item, in order; under a strategy, each replica takes one item of a group."""
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    results: list[T] = []
    for start in range(0, len(items), replicas):
        group = items[start : start + replicas]
        if len(group) < replicas or replicas == 1:  # one device, or fewer items left than replicas
            results += [fn(*item) for item in group]
        else:
            results += _side_by_side(fn, group, strategy)
    return results


def _side_by_side(fn: Callable[..., T], group: Sequence[tuple], strategy: Any) -> list[T]:
    """One item per replica, run by ``strategy.run`` (each replica on its own device)."""
    out: dict[int, T] = {}

    def replica() -> tf.Tensor:
        number = int(tf.distribute.get_replica_context().replica_id_in_sync_group)
        out[number] = fn(*group[number])
        return tf.constant(0)

    strategy.run(replica)
    return [out[number] for number in range(len(group))]

"""Where Square's windows fall: the share of the input a window covers at each query, its sides on
images and its length on inputs laid out along one axis (feature vectors, sequences).

The share ``p`` starts at ``p_init`` (0.8) and halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and
8000 of every 10,000 queries. Images get square windows of side ``round(sqrt(p * height * width))``;
one-axis inputs are viewed as one row of an image, and their windows are runs of ``round(p * length)``
consecutive features (or steps, every channel with its own sign). Both the L-inf and the L2 proposals
(:mod:`robustkit.attacks.square`, :mod:`robustkit.attacks.square_l2`) use these.

Example:
    >>> window_sides(10000, 8)[:3], window_sides(10000, 8)[-1]
    ([7, 7, 7], 1)
    >>> run_lengths(10000, 64)[:2], run_lengths(10000, 64)[-1]
    ([51, 51], 1)
"""

from __future__ import annotations

import math

import tensorflow as tf

from robustkit.errors import ConfigError

HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # of every 10,000 queries


def window_share(p_init: float, query: int, queries: int) -> float:
    """The share of the image a window covers at ``query`` (0-based) of ``queries``."""
    scaled = int(query / queries * 10000)
    return p_init / 2 ** sum(scaled > h for h in HALVINGS)


def window_sides(queries: int, height: int, p_init: float = 0.8) -> list[int]:
    """The window side at each query after the first (the stripes), for square images."""
    sides = []
    for query in range(queries):
        side = int(round(math.sqrt(window_share(p_init, query, queries) * height * height)))
        sides.append(min(max(side, 1), max(height - 1, 1)))
    return sides


def run_lengths(queries: int, length: int, p_init: float = 0.8) -> list[int]:
    """The run length at each query after the first, for inputs laid out along one axis."""
    runs = []
    for query in range(queries):
        run = int(round(window_share(p_init, query, queries) * length))
        runs.append(min(max(run, 1), max(length - 1, 1)))
    return runs


def image_view(t: tf.Tensor) -> tf.Tensor:
    """``t`` as ``(batch, height, width, channels)``: images as they are, one-axis inputs as one row."""
    rank = t.shape.rank
    if rank == 4:
        return t
    if rank == 2:
        return tf.reshape(t, [-1, 1, t.shape[1], 1])
    if rank == 3:
        return tf.reshape(t, [-1, 1, t.shape[1], t.shape[2]])
    raise ConfigError(
        f"Square takes images (batch, height, width, channels), sequences (batch, steps, channels) or feature "
        f"vectors (batch, features); got inputs of rank {rank}."
    )


def window_extent(queries: int, height: int, width: int, runs: bool, p_init: float) -> tuple[list[int], list[int]]:
    """Per query, the window's height and width: squares on images, runs of one row otherwise."""
    if runs:
        return [1] * queries, run_lengths(queries, width, p_init)
    sides = window_sides(queries, height, p_init)
    return sides, sides

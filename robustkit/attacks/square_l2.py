"""Square attack under L2 (Andriushchenko et al., 2020): the random search's L2 proposal.

The perturbation always has L2 norm eps (before the bounds clip it). It starts as a grid of
``side = height // 5`` tiles, each holding the "eta" pattern (below) with a random sign per
channel. Each query picks two random windows of side ``s`` (odd, at least 3, from the same
schedule as L-inf): the perturbation's mass in the second window moves into the first, where a
fresh eta pattern with random channel signs is added to the old content (normalised per channel)
and the window is rescaled so that the whole perturbation keeps norm eps. The proposal is kept
when the margin loss improves. Every random number is keyed by the example.

The eta pattern of side ``s``: concentric squares weighted ``1 / (k + 1)^2``, positive in the top
half and negative in the bottom half, of unit L2 norm, transposed half of the time.

Inputs laid out along one axis (feature vectors, sequences; see :mod:`robustkit.attacks.square`)
get runs instead of squares: the eta pattern of a run is the same two halves in one row, and the
start tiles the features with runs of a fifth of their length.

Example:
    >>> [round(float(v), 3) for v in eta_pattern(3)[:, 1]]
    [0.68, -0.129, -0.645]
    >>> [round(float(v), 3) for v in eta_run(4)]
    [0.139, 0.693, -0.139, -0.693]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from robustkit.attacks.loop import Evaluation, Problem, Rows
from robustkit.attacks.loop.records import per_row, where_rows
from robustkit.attacks.square_windows import image_view, window_share
from robustkit.row_random import per_example, row_uniform


def _rectangles(rows: int, cols: int) -> np.ndarray:
    """Concentric rectangles around the centre of a ``rows x cols`` block, weighted 1 / (k + 1)^2."""
    block = np.zeros((rows, cols))
    top, left = rows // 2, cols // 2
    for k in range(max(top + 1, left + 1)):
        block[max(top, 0) : min(top + 2 * k + 1, rows), max(left, 0) : min(left + 2 * k + 1, cols)] += (
            1.0 / (k + 1) ** 2
        )
        top, left = top - 1, left - 1
    norm = np.sqrt(np.sum(block**2))
    return block / norm if norm > 0 else block


def eta_pattern(side: int) -> np.ndarray:
    """The ``side x side`` eta pattern of unit L2 norm (not transposed)."""
    pattern = np.zeros((side, side))
    pattern[: side // 2] = _rectangles(side // 2, side)
    pattern[side // 2 :] = -_rectangles(side - side // 2, side)
    return pattern / np.sqrt(np.sum(pattern**2))


def eta_run(length: int) -> np.ndarray:
    """The eta pattern of a run of ``length`` features: a positive and a negative half, unit L2 norm."""
    half = length // 2
    pattern = np.concatenate([_rectangles(1, half)[0] if half else np.zeros(0), -_rectangles(1, length - half)[0]])
    return pattern / np.sqrt(np.sum(pattern**2))


def run_lengths_l2(queries: int, length: int, p_init: float) -> list[int]:
    """The run length at each query: odd, at least 3, at most the number of features."""
    runs = []
    for query in range(queries):
        run = max(int(round(window_share(p_init, query, queries) * length)), 3)
        run += 1 - run % 2
        runs.append(max(min(run, length), 1))
    return runs


def window_sides_l2(queries: int, height: int, width: int, p_init: float) -> list[int]:
    """The window side at each query: odd, at least 3, at most the image's smaller side."""
    sides = []
    for query in range(queries):
        side = max(int(round(math.sqrt(window_share(p_init, query, queries) * height * width))), 3)
        side += 1 - side % 2
        sides.append(max(min(side, height, width), 1))
    return sides


def _patterns(sides: list[int], size: int, runs: bool = False) -> np.ndarray:
    """The eta pattern of each side in ``sides``, zero-padded to ``size x size`` (runs: ``1 x size``);
    index [k, transposed] (a run's "transposed" pattern is the run reversed)."""
    table = np.zeros((len(sides), 2, 1 if runs else size, size), np.float32)
    for k, side in enumerate(sides):
        if runs:
            table[k, 0, 0, :side] = eta_run(side)
            table[k, 1, 0, :side] = eta_run(side)[::-1]
        else:
            table[k, 0, :side, :side] = eta_pattern(side)
            table[k, 1, :side, :side] = eta_pattern(side).T
    return table


class SquareL2State(NamedTuple):
    x: tf.Tensor  # the proposal to evaluate next
    x_acc: tf.Tensor  # the accepted point
    objective_acc: tf.Tensor
    t: tf.Tensor
    key: tf.Tensor
    norm2: tf.Tensor  # the proposal's squared distance to x
    norm2_acc: tf.Tensor  # the accepted point's


def _sum2(t: tf.Tensor) -> tf.Tensor:
    """Per example, the sum of squares. Reduced along one flat axis: TensorFlow reduces several axes
    of a one-example batch in another order than of a larger batch, which would change the last bit."""
    return tf.reduce_sum(tf.square(tf.reshape(t, [tf.shape(t)[0], -1])), axis=1)


def _lanes(window: tf.Tensor) -> tf.Tensor:
    """(batch, a, b, channels) -> (batch, channels, P): each channel's values, zero-padded to a multiple of 16."""
    batch, tall, wide, channels = tf.shape(window)[0], tf.shape(window)[1], tf.shape(window)[2], tf.shape(window)[3]
    flat = tf.reshape(tf.transpose(window, [0, 3, 1, 2]), [batch, channels, tall * wide])
    return tf.pad(flat, [[0, 0], [0, 0], [0, (16 - tall * wide % 16) % 16]])


def _unlanes(lanes: tf.Tensor, tall: tf.Tensor, wide: tf.Tensor) -> tf.Tensor:
    """The inverse of :func:`_lanes`."""
    batch, channels = tf.shape(lanes)[0], tf.shape(lanes)[1]
    return tf.transpose(tf.reshape(lanes[:, :, : tall * wide], [batch, channels, tall, wide]), [0, 2, 3, 1])


def _crop(t: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """Per example, ``t[b, rows[b]][:, cols[b]]``: (batch, len(rows), len(cols), channels)."""
    return tf.gather(tf.gather(t, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def _cells(rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """(batch, r, c, 3) indices ``[b, row, col]`` of a window, for scattering into (batch, h, w, channels)."""
    shape = tf.stack([tf.shape(rows)[0], tf.shape(rows)[1], tf.shape(cols)[1]])
    b = tf.broadcast_to(tf.range(tf.shape(rows)[0])[:, None, None], shape)
    return tf.stack([b, tf.broadcast_to(rows[:, :, None], shape), tf.broadcast_to(cols[:, None, :], shape)], axis=-1)


@dataclass(frozen=True)
class SquareL2Rule:
    """Square's L2 proposal, working on the two windows only: the whole image is touched by a few
    elementwise operations per query, and the squared norms are carried from one query to the next."""

    queries: int
    p_init: float = 0.8
    needs_gradient = False
    starts_at_x = False

    @staticmethod
    def _corner(draw, room):
        return tf.cast(draw * tf.cast(room + 1, tf.float32), tf.int32)

    def _to_ball(self, problem: Problem, origin, delta, norm2):
        """``clip(origin + delta * eps / |delta|)`` and its squared distance to ``origin``."""
        scale = problem.eps / per_example(tf.sqrt, tf.maximum(norm2, tf.constant(1e-24, delta.dtype)))
        point = tf.clip_by_value(origin + delta * per_row(scale, delta), problem.lo, problem.hi)
        return point, _sum2(point - origin)

    def init(self, problem: Problem, x: tf.Tensor, restart: tf.Tensor) -> SquareL2State:
        view = image_view(x)
        batch, height, width, channels = tf.shape(x)[0], view.shape[1], view.shape[2], view.shape[3]
        key = problem.restart_keys(restart)
        runs = x.shape.rank != 4
        if runs:  # a row of runs, each a fifth of the features
            tall, wide = 1, max(width // 5, 1)
            tiles = [(0, left) for left in range(0, width - wide + 1, wide)]
            pattern = tf.constant(np.stack([eta_run(wide), eta_run(wide)[::-1]])[:, None, :], x.dtype)
        else:
            tall = wide = max(min(height, width) // 5, 1)
            start = (height - tall * 5) // 2 if height >= 5 else 0
            tiles = [
                (top, left)
                for top in range(start, height - tall + 1, tall)[: height // tall]
                for left in range(start, width - tall + 1, tall)[: width // tall]
            ]
            pattern = tf.constant(np.stack([eta_pattern(tall), eta_pattern(tall).T]), x.dtype)  # (2, side, side)
        draws = row_uniform(key, -1, len(tiles) * (channels + 1))
        delta = tf.zeros_like(view)
        for k, (top, left) in enumerate(tiles):
            flip = tf.cast(draws[:, k * (channels + 1)] < 0.5, tf.int32)
            signs = tf.where(draws[:, k * (channels + 1) + 1 : (k + 1) * (channels + 1)] < 0.5, -1.0, 1.0)
            tile = tf.gather(pattern, flip)[..., None] * tf.cast(signs, x.dtype)[:, None, None, :]
            rows = tf.broadcast_to(tf.range(top, top + tall)[None], [batch, tall])
            cols = tf.broadcast_to(tf.range(left, left + wide)[None], [batch, wide])
            delta = tf.tensor_scatter_nd_add(delta, _cells(rows, cols), tile)
        delta = tf.reshape(delta, tf.shape(x))
        point, norm2 = self._to_ball(problem, x, delta, _sum2(delta))
        unscored = tf.fill([batch], tf.constant(-np.inf, x.dtype))
        return SquareL2State(point, point, unscored, tf.zeros([batch], tf.int32), key, norm2, norm2)

    def step(self, problem: Problem, state: SquareL2State, evaluation: Evaluation, rows: Rows) -> SquareL2State:
        s = state
        better = evaluation.objective > s.objective_acc
        x_acc = where_rows(better, s.x, s.x_acc)
        objective_acc = tf.where(better, evaluation.objective, s.objective_acc)
        norm2_acc = tf.where(better, s.norm2, s.norm2_acc)
        origin, dtype = image_view(rows.origin), s.x.dtype
        view = image_view(s.x)
        height, width, channels = view.shape[1], view.shape[2], view.shape[3]
        runs = s.x.shape.rank != 4
        sides = (
            run_lengths_l2(self.queries, width, self.p_init)
            if runs
            else window_sides_l2(self.queries, height, width, self.p_init)
        )
        distinct = sorted(set(sides))
        t = tf.reduce_max(s.t)
        side = tf.gather(tf.constant(sides, tf.int32), t)
        tall = tf.ones_like(side) if runs else side  # a run is one row high
        index = tf.gather(tf.constant([distinct.index(v) for v in sides], tf.int32), t)
        draws = row_uniform(s.key, t, 5 + channels)
        top1, left1 = self._corner(draws[:, 0], height - tall), self._corner(draws[:, 1], width - side)
        top2, left2 = self._corner(draws[:, 2], height - tall), self._corner(draws[:, 3], width - side)
        flip = tf.cast(draws[:, 4] < 0.5, tf.int32)
        signs = tf.cast(tf.where(draws[:, 5:] < 0.5, -1.0, 1.0), dtype)[:, None, None, :]
        down, span = tf.range(tall)[None], tf.range(side)[None]
        rows1, cols1 = top1[:, None] + down, left1[:, None] + span
        rows2, cols2 = top2[:, None] + down, left2[:, None] + span

        delta = image_view(x_acc) - origin
        crop1, crop2 = _crop(delta, rows1, cols1), _crop(delta, rows2, cols2)
        # The mass of both windows together: the second window's cells inside the first count once.
        overlap = tf.cast(
            ((rows1 >= top2[:, None]) & (rows1 < (top2 + tall)[:, None]))[:, :, None]
            & ((cols1 >= left2[:, None]) & (cols1 < (left2 + side)[:, None]))[:, None, :],
            dtype,
        )[..., None]
        norm2_windows = _sum2(crop1) + _sum2(crop2) - _sum2(crop1 * overlap)
        tiny = tf.constant(1e-12, dtype)
        table = tf.constant(_patterns(distinct, max(distinct), runs), dtype)  # (sides, 2, size or 1, size)
        pattern = tf.gather(tf.gather(table, tf.fill(tf.shape(flip), index)), flip, batch_dims=1)
        pattern = pattern[:, :tall, :side, None]
        room = tf.maximum(problem.eps**2 - norm2_acc, tf.zeros_like(norm2_acc)) / channels + norm2_windows
        # The window's arithmetic runs per channel on rows padded to whole SIMD packets (see
        # robustkit.row_random.rowwise): a window is small, and otherwise which of its numbers fall
        # in a kernel's scalar tail would depend on the batch size.
        old = _lanes(crop1)
        old = old / (tiny + per_example(tf.sqrt, tf.reduce_sum(tf.square(old), axis=2, keepdims=True)))
        new = _lanes(pattern * signs) + old
        new = new / (tiny + per_example(tf.sqrt, tf.reduce_sum(tf.square(new), axis=2, keepdims=True)))
        new = _unlanes(new * per_example(tf.sqrt, room)[:, None, None], tall, side)
        delta = tf.tensor_scatter_nd_update(delta, _cells(rows2, cols2), tf.zeros_like(crop2))
        delta = tf.tensor_scatter_nd_update(delta, _cells(rows1, cols1), new)
        norm2 = tf.maximum(norm2_acc - norm2_windows, tf.zeros_like(norm2_acc)) + _sum2(new)
        point, norm2_point = self._to_ball(problem, rows.origin, tf.reshape(delta, tf.shape(s.x)), norm2)
        return SquareL2State(point, x_acc, objective_acc, s.t + 1, s.key, norm2_point, norm2_acc)

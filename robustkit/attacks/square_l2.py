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

Example:
    >>> [round(float(v), 3) for v in eta_pattern(3)[:, 1]]
    [0.68, -0.129, -0.645]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from robustkit.attacks.loop import Evaluation, Problem, Rows
from robustkit.attacks.square import SquareState, window_share
from robustkit.row_random import row_uniform


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


def window_sides_l2(queries: int, height: int, width: int, p_init: float) -> list[int]:
    """The window side at each query: odd, at least 3, at most the image's smaller side."""
    sides = []
    for query in range(queries):
        side = max(int(round(math.sqrt(window_share(p_init, query, queries) * height * width))), 3)
        side += 1 - side % 2
        sides.append(max(min(side, height, width), 1))
    return sides


def _patterns(sides: list[int], size: int) -> np.ndarray:
    """The eta pattern of each side in ``sides``, zero-padded to ``size x size``; index [k, transposed]."""
    table = np.zeros((len(sides), 2, size, size), np.float32)
    for k, side in enumerate(sides):
        table[k, 0, :side, :side] = eta_pattern(side)
        table[k, 1, :side, :side] = eta_pattern(side).T
    return table


def _l2(t: tf.Tensor, axes) -> tf.Tensor:
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=axes, keepdims=True))


@dataclass(frozen=True)
class SquareL2Rule:
    queries: int
    p_init: float = 0.8
    needs_gradient = False
    starts_at_x = False

    def _placed(self, table, index, flip, top, left, height, width):
        """Per example, pattern ``table[index, flip]`` with its top-left corner at (top, left): (batch, h, w)."""
        pattern = tf.gather(tf.gather(tf.constant(table), index), flip, batch_dims=1)  # (batch, size, size)
        rows = tf.clip_by_value(tf.range(height)[None, :] - top[:, None], 0, table.shape[-1] - 1)
        cols = tf.clip_by_value(tf.range(width)[None, :] - left[:, None], 0, table.shape[-1] - 1)
        return tf.gather(tf.gather(pattern, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)

    @staticmethod
    def _window(top, left, side, height, width):
        inside_rows = (tf.range(height)[None, :] >= top[:, None]) & (tf.range(height)[None, :] < (top + side)[:, None])
        inside_cols = (tf.range(width)[None, :] >= left[:, None]) & (tf.range(width)[None, :] < (left + side)[:, None])
        return tf.cast(inside_rows[:, :, None] & inside_cols[:, None, :], tf.float32)[..., None]  # (batch, h, w, 1)

    @staticmethod
    def _corner(draw, room):
        return tf.cast(draw * tf.cast(room + 1, tf.float32), tf.int32)

    def _to_ball(self, problem: Problem, origin, delta):
        scale = problem.eps / tf.maximum(_l2(delta, [1, 2, 3]), tf.constant(1e-12, delta.dtype))
        return tf.clip_by_value(origin + delta * scale, problem.lo, problem.hi)

    def init(self, problem: Problem, x: tf.Tensor, restart: tf.Tensor) -> SquareState:
        batch, height, width, channels = tf.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
        key = problem.restart_keys(restart)
        side = max(min(height, width) // 5, 1)
        start = (height - side * 5) // 2 if height >= 5 else 0
        tiles = [
            (top, left)
            for top in range(start, height - side + 1, side)[: height // side]
            for left in range(start, width - side + 1, side)[: width // side]
        ]
        draws = row_uniform(key, -1, len(tiles) * (channels + 1))
        table = _patterns([side], side)
        delta = tf.zeros_like(x)
        for k, (top, left) in enumerate(tiles):
            flip = tf.cast(draws[:, k * (channels + 1)] < 0.5, tf.int32)
            signs = tf.where(draws[:, k * (channels + 1) + 1 : (k + 1) * (channels + 1)] < 0.5, -1.0, 1.0)
            tops, lefts = tf.fill([batch], top), tf.fill([batch], left)
            placed = self._placed(table, tf.zeros([batch], tf.int32), flip, tops, lefts, height, width)
            window = self._window(tops, lefts, side, height, width)
            delta += tf.cast(placed[..., None] * window * signs[:, None, None, :], x.dtype)
        return SquareState.start(self._to_ball(problem, x, delta), key)

    def step(self, problem: Problem, state: SquareState, evaluation: Evaluation, rows: Rows) -> SquareState:
        s = state
        x_acc, objective_acc = s.accept(evaluation)
        origin, dtype = rows.origin, s.x.dtype
        height, width, channels = s.x.shape[1], s.x.shape[2], s.x.shape[3]
        sides = window_sides_l2(self.queries, height, width, self.p_init)
        distinct = sorted(set(sides))
        t = tf.reduce_max(s.t)
        side = tf.gather(tf.constant(sides, tf.int32), t)
        index = tf.gather(tf.constant([distinct.index(v) for v in sides], tf.int32), t)
        draws = row_uniform(s.key, t, 5 + channels)
        top1, left1 = self._corner(draws[:, 0], height - side), self._corner(draws[:, 1], width - side)
        top2, left2 = self._corner(draws[:, 2], height - side), self._corner(draws[:, 3], width - side)
        flip = tf.cast(draws[:, 4] < 0.5, tf.int32)
        signs = tf.cast(tf.where(draws[:, 5:] < 0.5, -1.0, 1.0), dtype)[:, None, None, :]
        batch = tf.shape(x_acc)[0]
        side_b = tf.fill([batch], side)
        window1 = tf.cast(self._window(top1, left1, side_b, height, width), dtype)
        window2 = tf.cast(self._window(top2, left2, side_b, height, width), dtype)

        delta = x_acc - origin
        tiny = tf.constant(1e-12, dtype)
        norm_image = _l2(delta, [1, 2, 3])
        norm_windows = _l2(delta * tf.maximum(window1, window2), [1, 2, 3])
        old = delta * window1 / (tiny + _l2(delta * window1, [1, 2]))  # normalised per channel
        pattern = tf.cast(
            self._placed(_patterns(distinct, max(distinct)), tf.fill([batch], index), flip, top1, left1, height, width),
            dtype,
        )[..., None]
        new = (pattern * window1 * signs + old) * window1
        room = tf.maximum(problem.eps**2 - norm_image**2, tf.zeros_like(norm_image)) / channels + norm_windows**2
        new = new / (tiny + _l2(new, [1, 2])) * tf.sqrt(room)
        delta = delta * (1 - window2)
        delta = delta * (1 - window1) + new
        return SquareState(self._to_ball(problem, origin, delta), x_acc, objective_acc, s.t + 1, s.key)

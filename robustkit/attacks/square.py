"""Square attack (Andriushchenko et al., 2020), L-inf: random search with forward passes only.
(Its L2 proposal is in :mod:`robustkit.attacks.square_l2`.)

It starts from vertical stripes (each column and channel at ``+eps`` or ``-eps``), then at every
query changes one square window of side ``s`` to a random corner of the eps-box (a sign per
channel) and keeps the change if the margin loss improves. The share ``p`` of the image a window
covers starts at ``p_init`` (0.8) and halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000
of every 10,000 queries; ``s = round(sqrt(p * height * width))``, between 1 and ``height - 1``.
A window whose top-left pixel already holds the drawn corner takes the opposite signs instead
(the published code draws again until the window changes). Every random number is keyed by the example
(:mod:`robustkit.row_random`), so early stopping changes the work, never the answer.

Inputs without two spatial axes (a table's features ``(batch, features)``, a sequence
``(batch, steps, channels)``) get windows that are runs of consecutive features (or steps, every
channel with its own sign): a run covers the share ``p`` of the features, between 1 and all but
one of them, and the stripes become a sign per feature. Neighbouring features of a table are no
more related than any others, but a run is a random subset as cheap to draw as a window, and on a
sequence it is the one-dimensional window.

Where windows fall is :mod:`robustkit.attacks.square_windows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from robustkit.attacks.base import LoopAttack
from robustkit.attacks.declared import Interval
from robustkit.attacks.loop import Evaluation, Problem, Rows
from robustkit.attacks.loop.records import where_rows
from robustkit.attacks.square_l2 import SquareL2Rule
from robustkit.attacks.square_windows import image_view, window_extent
from robustkit.errors import ConfigError
from robustkit.ranges import Eps
from robustkit.row_random import row_uniform


class SquareState(NamedTuple):
    x: tf.Tensor  # the proposal to evaluate next
    x_acc: tf.Tensor  # the accepted point
    objective_acc: tf.Tensor  # its objective
    t: tf.Tensor  # queries made
    key: tf.Tensor  # the example's random key

    @staticmethod
    def start(point: tf.Tensor, key: tf.Tensor) -> SquareState:
        """The first proposal: ``point``, nothing accepted yet."""
        batch = tf.shape(point)[0]
        unscored = tf.fill([batch], tf.constant(-np.inf, point.dtype))
        return SquareState(point, point, unscored, tf.zeros([batch], tf.int32), key)

    def accept(self, evaluation: Evaluation) -> tuple[tf.Tensor, tf.Tensor]:
        """The accepted point and objective once the last proposal is scored: it stays if it improved."""
        better = evaluation.objective > self.objective_acc
        return where_rows(better, self.x, self.x_acc), tf.where(better, evaluation.objective, self.objective_acc)


@dataclass(frozen=True)
class SquareRule:
    queries: int
    p_init: float = 0.8
    needs_gradient = False
    starts_at_x = False

    def init(self, problem: Problem, x: tf.Tensor, restart: tf.Tensor) -> SquareState:
        view = image_view(x)
        width, channels = view.shape[2], view.shape[3]
        key = problem.restart_keys(restart)
        up = tf.reshape(row_uniform(key, -1, width * channels) < 0.5, [-1, 1, width, channels])
        low, high = problem.linf_box(x)
        start = tf.where(up, image_view(high), image_view(low))
        return SquareState.start(tf.reshape(start, tf.shape(x)), key)

    def step(self, problem: Problem, state: SquareState, evaluation: Evaluation, rows: Rows) -> SquareState:
        s = state
        x_acc, objective_acc = s.accept(evaluation)
        t = tf.reduce_max(s.t)  # every example being attacked has made the same number of queries
        acc, high, low = image_view(x_acc), image_view(rows.high), image_view(rows.low)
        height, width, channels = acc.shape[1], acc.shape[2], acc.shape[3]
        tall, wide = window_extent(self.queries, height, width, s.x.shape.rank != 4, self.p_init)
        side_h = tf.gather(tf.constant(tall, tf.int32), t)
        side_w = tf.gather(tf.constant(wide, tf.int32), t)
        draws = row_uniform(s.key, t, 2 + channels)
        top = tf.cast(draws[:, 0] * tf.cast(height - side_h + 1, tf.float32), tf.int32)[:, None, None, None]
        left = tf.cast(draws[:, 1] * tf.cast(width - side_w + 1, tf.float32), tf.int32)[:, None, None, None]
        rows_in = tf.range(height)[None, :, None, None]
        cols_in = tf.range(width)[None, None, :, None]
        shape = tf.shape(acc)
        up = tf.reshape(draws[:, 2:] < 0.5, [-1, 1, 1, channels])
        # A window whose top-left pixel already has the drawn corner most likely has it all over
        # (windows shrink, and overwrite earlier, larger ones): draw the opposite corner instead.
        corner = tf.concat([tf.range(shape[0])[:, None], top[:, :, 0, 0], left[:, :, 0, 0]], axis=1)
        there = tf.gather_nd(acc, corner)
        drawn = tf.where(tf.reshape(up, [-1, channels]), tf.gather_nd(high, corner), tf.gather_nd(low, corner))
        unchanged = tf.reduce_all(tf.equal(there, drawn), axis=1)
        up = tf.broadcast_to(tf.math.logical_xor(up, unchanged[:, None, None, None]), shape)
        window = tf.broadcast_to(
            (rows_in >= top) & (rows_in < top + side_h) & (cols_in >= left) & (cols_in < left + side_w), shape
        )
        # The row-wise Select, not tf.where: it does not broadcast, and is much faster on CPU.
        proposal = tf.raw_ops.Select(condition=window, x=tf.raw_ops.Select(condition=up, x=high, y=low), y=acc)
        return SquareState(tf.reshape(proposal, tf.shape(x_acc)), x_acc, objective_acc, s.t + 1, s.key)


class Square(LoopAttack):
    """The Square attack, L-inf or L2 (:mod:`robustkit.attacks.square_l2`): ``queries`` forward passes
    per restart, no gradients.

    It works on models whose gradients are masked or missing. Inputs are images
    ``(batch, height, width, channels)``, sequences ``(batch, steps, channels)`` or feature vectors
    ``(batch, features)``, whose windows are runs of features. The objective is the margin loss; a targeted attack
    takes ``loss="margin"`` or ``"ce"`` towards its targets.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
        >>> x = np.full((2, 4, 4, 1), 0.5, "float32")
        >>> result = Square(eps=0.1, queries=50, seed=0).run(model, x, [0, 1])
        >>> float(np.abs(result.x_adv - x).max()) <= 0.1 + 1e-6, int(result.grad_evals.sum())
        (True, 0)
    """

    name = "square"
    kind = "score"
    parameter_constraints = {"p_init": Interval(0, 1, closed="right")}
    budget = "queries"
    chooses_start = True
    random_start = True  # each restart starts from Square's own stripes

    def __init__(
        self,
        eps: Eps | str,
        queries: int = 5000,
        norm: str = "linf",
        p_init: float = 0.8,
        loss: str = "margin",
        restarts: int = 1,
        targeted: bool = False,
        target: str | None = None,
        early_stop: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
    ):
        if str(norm).lower() not in ("linf", "inf", "l2"):
            raise ConfigError(f"Square is implemented for norm='linf' and norm='l2', got {norm!r}.")
        super().__init__(
            eps=eps,
            steps=queries,
            norm="l2" if str(norm).lower() == "l2" else "linf",
            loss=loss,
            targeted=targeted,
            target=target,
            restarts=restarts,
            early_stop=early_stop,
            bounds=bounds,
            batch_size=batch_size,
            seed=seed,
        )
        self.p_init = float(p_init)

    @property
    def queries(self) -> int:
        return self.steps

    def step_rule(self) -> Any:
        if self.norm.name == "l2":
            return SquareL2Rule(self.steps, self.p_init)
        return SquareRule(self.steps, self.p_init)

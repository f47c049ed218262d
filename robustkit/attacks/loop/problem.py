"""What every step of one compiled attack call shares: the model, the objective, the ball, the bounds.

A :class:`Problem` is built once per traced call. Attack families (step rules) use it to
evaluate the model, to project onto the eps-ball and the bounds, and to draw random numbers;
they never touch the model or the loss directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from robustkit.attacks.loop.records import Evaluation, hit
from robustkit.ball import linf_box
from robustkit.logits import LogitsView
from robustkit.losses import GUIDED_LOSSES, attack_objective
from robustkit.norms import Norm
from robustkit.row_random import mix_keys
from robustkit.tape import objective_and_gradient


@dataclass(frozen=True)
class LoopConfig:
    """The shared loop's switches (part of the compiled function's cache key).

    Attributes:
        norm: the threat model's norm.
        loss: the objective an attack maximises (see :mod:`robustkit.losses`).
        targeted: the goal is a target class rather than any wrong one.
        steps: gradient steps per restart.
        restarts: independent restarts; the best point per example is kept.
        early_stop: an example leaves the batch once it is adversarial (evaluation mode).
        keep_best: return each example's best iterate rather than its last one.
        gather: work on the rows that need it by gathering them (dynamic shapes: not under XLA).
        score_last: False returns the last iterate unscored (adversarial training).
        first_given: the call takes the evaluation at x itself as a sixth argument and spends no
            gradient evaluation on the first step (valid for rules that start at x).
        eot: forward+backward passes averaged per gradient (expectation over transformation, for
            randomized models); 1 for deterministic ones.
        straight_through: the function is traced inside :func:`robustkit.straight_through.straight_through`.
    """

    norm: Norm
    loss: str
    targeted: bool
    steps: int
    restarts: int = 1
    early_stop: bool = False
    keep_best: bool = True
    gather: bool = True
    score_last: bool = True
    first_given: bool = False
    eot: int = 1
    straight_through: bool = False


class Rows(NamedTuple):
    """Per-example constants a step needs, gathered with the examples when the batch shrinks.

    Under L-inf the ball and the bounds are both boxes, so projecting onto both is one clip to
    their intersection (``low``, ``high``), computed once per batch; ``origin`` is then unused
    and left out. Other norms project around ``origin`` (the clean x).
    """

    labels: tf.Tensor
    origin: tf.Tensor | None
    low: tf.Tensor | None
    high: tf.Tensor | None
    guide: tf.Tensor | None = None  # the class a guided loss steers towards (APGD-T)

    def map(self, fn) -> Rows:
        """Apply ``fn`` to every tensor (gather, pad, ...), keeping the absent ones absent."""
        return Rows(*(None if t is None else fn(t) for t in self))

    def targets_at(self, idx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor | None]:
        """The labels (and guide) of the rows ``idx``: what scoring a point there needs."""
        return tf.gather(self.labels, idx), None if self.guide is None else tf.gather(self.guide, idx)


class Problem:
    """The model, objective, ball and bounds of one compiled call, with the operations on them."""

    def __init__(
        self,
        view: LogitsView,
        cfg: LoopConfig,
        x: tf.Tensor,
        eps,
        step_size,
        keys,
        lower: np.ndarray,
        upper: np.ndarray,
    ):
        self.view, self.cfg, self.norm = view, cfg, cfg.norm
        self.dtype = x.dtype
        self.lo = tf.constant(lower, self.dtype)
        self.hi = tf.constant(upper, self.dtype)
        self.lower64, self.upper64 = tf.constant(lower, tf.float64), tf.constant(upper, tf.float64)
        self.eps = tf.cast(eps, self.dtype)
        self.eps64 = tf.cast(eps, tf.float64)  # eps as given: the ball's exact radius
        self.step_size = tf.cast(step_size, self.dtype)
        self.keys = keys  # one random key per example (robustkit.row_random)

    def rows(self, x: tf.Tensor, labels: tf.Tensor, guide: tf.Tensor | None = None) -> Rows:
        if self.norm.name == "linf":
            return Rows(labels, None, *self.linf_box(x), guide)
        return Rows(labels, x, None, None, guide)

    def linf_box(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The L-inf ball around ``x`` intersected with the bounds, exactly as x's dtype can hold it."""
        radius = getattr(self.norm, "feature_radius", None)  # a per-feature ball (robustkit.scaled_norm)
        return linf_box(x, self.eps64 if radius is None else self.eps64 * radius(), self.lower64, self.upper64)

    def project(self, x_new: tf.Tensor, x_orig: tf.Tensor) -> tf.Tensor:
        """The closest point to ``x_new`` in the eps-ball around ``x_orig`` and the bounds."""
        return tf.clip_by_value(x_orig + self.norm.project(x_new - x_orig, self.eps), self.lo, self.hi)

    def project_rows(self, x_new: tf.Tensor, rows: Rows) -> tf.Tensor:
        """:meth:`project` for the examples of ``rows`` (one clip under L-inf)."""
        if rows.low is not None:
            return tf.clip_by_value(x_new, rows.low, rows.high)
        return self.project(x_new, rows.origin)

    def restart_keys(self, restart: tf.Tensor) -> tf.Tensor:
        """Each example's random key for restart number ``restart``."""
        return mix_keys(self.keys, restart)

    def evaluate(self, x_at: tf.Tensor, labels: tf.Tensor, guide: tf.Tensor | None = None) -> Evaluation:
        """A forward pass: objective, verdict and prediction, no gradient."""
        logits = self.view(x_at)
        objective = attack_objective(self.cfg.loss, logits, labels, self.cfg.targeted, guide)
        prediction = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return Evaluation(tf.cast(objective, self.dtype), None, hit(prediction, labels, self.cfg.targeted), prediction)

    def step_evaluation(self, rule, x_at: tf.Tensor, labels: tf.Tensor, guide: tf.Tensor | None = None) -> Evaluation:
        """What a step of ``rule`` needs at ``x_at``: the gradient, or a forward pass (score-based rules)."""
        if rule.needs_gradient:
            return self.gradient_at(x_at, labels, guide)
        return self.evaluate(x_at, labels, guide)

    def gradient_at(self, x_at: tf.Tensor, labels: tf.Tensor, guide: tf.Tensor | None = None) -> Evaluation:
        """A forward and backward pass: the objective, its gradient, verdict and prediction.

        With ``eot > 1`` the objective and gradient are averaged over that many passes (a randomized
        model draws afresh in each); the verdict is the last pass's.
        """
        objective, gradient, logits = objective_and_gradient(
            self.view, x_at, labels, self.cfg.loss, self.cfg.targeted, guide
        )
        if self.cfg.eot > 1:

            def one_more(i, objective_sum, gradient_sum, _):
                o, g, z = objective_and_gradient(self.view, x_at, labels, self.cfg.loss, self.cfg.targeted, guide)
                return i + 1, objective_sum + o, gradient_sum + g, z

            _, objective, gradient, logits = tf.while_loop(
                lambda i, *_: i < self.cfg.eot,
                one_more,
                (tf.constant(1), objective, gradient, logits),
                parallel_iterations=1,
            )
            objective, gradient = objective / self.cfg.eot, gradient / self.cfg.eot
        prediction = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return Evaluation(
            tf.cast(objective, self.dtype), gradient, hit(prediction, labels, self.cfg.targeted), prediction
        )

    @property
    def guided(self) -> bool:
        return self.cfg.loss in GUIDED_LOSSES

    def given(self, first: tuple[tf.Tensor, tf.Tensor, tf.Tensor], labels: tf.Tensor) -> Evaluation:
        """The evaluation at x computed by the caller (objective, gradient, prediction)."""
        objective, gradient, prediction = first
        return Evaluation(
            tf.cast(objective, self.dtype),
            tf.cast(gradient, self.dtype),
            hit(prediction, labels, self.cfg.targeted),
            prediction,
        )

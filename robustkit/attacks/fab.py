"""FAB-T (Croce & Hein, 2020): the fast adaptive boundary attack, targeted, minimum-norm.

FAB looks for the adversarial example closest to x. At each step it linearises the gap between
the true class's and the target class's logits, ``f = z_y - z_t``, at the current point ``x_k``,
and projects both ``x_k`` and the clean ``x`` onto the hyperplane where that linear model is
zero, inside the input bounds (:mod:`robustkit.attacks.hyperplane`), giving steps ``d_k`` and
``d_0``. It then moves to

``x_{k+1} = clip((1 - a)(x_k + eta d_k) + a (x + eta d_0))``, ``a = min(|d_k| / (|d_k| + |d_0|), alpha_max)``

(overshoot ``eta = 1.05``, ``alpha_max = 0.1``), so it is drawn both to the boundary and
towards x. A misclassified ``x_{k+1}`` is recorded if it is the closest so far, and the search
steps back towards x: ``x_{k+1} <- x + beta (x_{k+1} - x)`` (``beta = 0.9``). Restarts after the
first start at a random point at distance ``eps / 2``. The target classes are the 2nd, 3rd, ...
most likely at x, each run on the examples no earlier target broke (as for APGD-T).

An example counts as broken when the smallest adversarial perturbation found is at most eps;
``result.radius`` gives that smallest norm for every example (``inf`` when none was found):
an upper bound of the example's robustness radius. Each step costs one gradient evaluation and
one forward pass.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    >>> x = np.full((3, 4), 0.5, "float32")
    >>> result = FAB(eps=0.3, steps=10, n_targets=2, seed=0).run(model, x, [0, 1, 2])
    >>> bool(np.all(result.norms <= 0.3 + 1e-6)), bool(np.all(result.success == (result.radius <= 0.3)))
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks.declared import Interval
from robustkit.attacks.gradient_attack import GradientAttack
from robustkit.attacks.hyperplane import project
from robustkit.attacks.loop import LoopConfig, Problem, StepRule
from robustkit.attacks.loop.records import per_row, where_rows
from robustkit.attacks.target_sweep import TargetSweep
from robustkit.errors import ConfigError
from robustkit.logits import LogitsView
from robustkit.norms import Norm
from robustkit.ranges import Eps
from robustkit.row_random import row_normal, row_uniform
from robustkit.tape import objective_and_gradient
from robustkit.tracing import note_trace


@dataclass(frozen=True)
class FABRule:
    """FAB's own loop (it keeps the closest adversarial point, not the highest objective)."""

    steps: int
    restarts: int
    alpha_max: float = 0.1
    eta: float = 1.05
    beta: float = 0.9
    early_stop: bool = False
    starts_at_x = False

    def build(self, view: LogitsView, cfg: LoopConfig, lower: np.ndarray, upper: np.ndarray):
        """The attack function of ``(x, labels, eps, step_size, keys, guide)``, with the shared loop's outputs.

        Its ``objective`` output is minus the smallest adversarial norm found (``-inf`` when none).
        """
        rule = self

        def attack(x, labels, eps, step_size, keys, guide):
            note_trace()
            problem = Problem(view, cfg, x, eps, step_size, keys, lower, upper)
            return rule._attack(problem, x, labels, guide)

        return attack

    def _attack(self, problem: Problem, x0: tf.Tensor, labels: tf.Tensor, guide: tf.Tensor):
        norm, dtype = problem.norm, x0.dtype
        batch = tf.shape(x0)[0]
        low = tf.broadcast_to(problem.lo, tf.shape(x0))
        high = tf.broadcast_to(problem.hi, tf.shape(x0))

        def flat(t: tf.Tensor) -> tf.Tensor:
            return tf.reshape(t, [batch, -1])

        def predict(at: tf.Tensor) -> tf.Tensor:
            return tf.argmax(problem.view(at), axis=-1, output_type=tf.int32)

        def step(x1: tf.Tensor, x_min: tf.Tensor, radius: tf.Tensor):
            # The guided loss is z_t - z_y; FAB's f is its negative, and so is the gradient.
            objective, gradient, _ = objective_and_gradient(problem.view, x1, labels, "gap-targeted", False, guide)
            f, w = -tf.cast(objective, dtype), flat(-gradient)
            # Steps onto {z : f(x1) + w . (z - x1) = 0}: from x1 it needs w . d = -f, from x0 the same
            # plus the difference of the two points along w.
            d1 = project(norm.name, w, -f, flat(low - x1), flat(high - x1))
            d0 = project(norm.name, w, -f + tf.reduce_sum(w * flat(x1 - x0), axis=1), flat(low - x0), flat(high - x0))
            a1 = tf.maximum(norm.measure(d1), tf.constant(1e-8, dtype))
            a0 = tf.maximum(norm.measure(d0), tf.constant(1e-8, dtype))
            alpha = per_row(tf.clip_by_value(a1 / (a1 + a0), 0.0, self.alpha_max), x0)
            moved = (x1 + self.eta * tf.reshape(d1, tf.shape(x0))) * (1 - alpha) + (
                x0 + self.eta * tf.reshape(d0, tf.shape(x0))
            ) * alpha
            x1 = tf.clip_by_value(moved, low, high)
            adversarial = tf.not_equal(predict(x1), labels)
            distance = norm.measure(x1 - x0)
            closer = tf.logical_and(adversarial, distance < radius)
            x_min = where_rows(closer, x1, x_min)
            radius = tf.where(closer, distance, radius)
            x1 = where_rows(adversarial, x0 + self.beta * (x1 - x0), x1)
            return x1, x_min, radius

        def going(i, x1, x_min, radius):
            if not self.early_stop:
                return i < self.steps
            # Early stopping ends the run once every example has an adversarial point within eps.
            return tf.logical_and(i < self.steps, tf.reduce_any(radius > problem.eps))

        def run_restart(x1, x_min, radius):
            steps, _, x_min, radius = tf.while_loop(
                going,
                lambda i, x1, x_min, radius: (i + 1, *step(x1, x_min, radius)),
                (tf.constant(0), x1, x_min, radius),
                parallel_iterations=1,
            )
            return x_min, radius, steps

        # An example misclassified already is at distance 0.
        clean_wrong = tf.not_equal(predict(x0), labels)
        radius = tf.where(clean_wrong, tf.zeros([batch], dtype), tf.fill([batch], tf.constant(np.inf, dtype)))
        x_min, spent = x0, tf.constant(0)
        for restart in range(self.restarts):
            start = x0 if restart == 0 else self._random_start(problem, x0, low, high, restart)
            x_min, radius, steps = run_restart(start, x_min, radius)
            spent += steps
        success = radius <= problem.eps
        x_adv = where_rows(success, x_min, x0)
        prediction = predict(x_adv)
        success = tf.logical_and(success, tf.not_equal(prediction, labels))
        objective = tf.where(tf.math.is_finite(radius), -radius, tf.fill([batch], tf.constant(-np.inf, dtype)))
        evals = tf.fill([batch], spent)
        return x_adv, success, objective, prediction, norm.measure(x_adv - x0), evals

    @staticmethod
    def _random_start(problem: Problem, x0, low, high, restart: int) -> tf.Tensor:
        """A point at distance eps / 2 in a random direction (uniform signs for L-inf, Gaussian otherwise)."""
        keys = problem.restart_keys(tf.constant(restart))
        dims = tf.reduce_prod(tf.shape(x0)[1:])
        if problem.norm.name == "linf":
            direction = 2.0 * row_uniform(keys, 0, dims) - 1.0
        else:
            direction = row_normal(keys, 0, dims)
        direction = tf.reshape(tf.cast(direction, x0.dtype), tf.shape(x0))
        length = tf.maximum(problem.norm.measure(direction), tf.constant(1e-12, x0.dtype))
        return tf.clip_by_value(x0 + per_row(0.5 * problem.eps / length, x0) * direction, low, high)


class FAB(TargetSweep, GradientAttack):
    """FAB-T: targeted minimum-norm attack under L-inf, L2 or L1 (see the module docstring).

    Args:
        eps: the threat model's radius: an example is broken when FAB finds an adversarial point
            this close; ``result.radius`` holds the smallest distance found, whatever eps. None (with one
            restart): no radius of its own, every adversarial point found counts, and the radius answers
            every eps.
        steps: steps per restart and target (100 in AutoAttack).
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        n_targets: target classes, the most likely first (9 in AutoAttack).
        restarts: runs per target; the later ones start at random (1 in AutoAttack).
        alpha_max, eta, beta: the published step constants.
        early_stop: end a batch's run once every example in it has an adversarial point within eps
            (evaluation: the success flags are final; ``radius`` may then be larger than it could be).
        bounds, batch_size, seed: as for every attack.
    """

    name = "fab"
    kind = "minimum-norm"
    own_loss = "gap-targeted"
    chooses_start = True
    parameter_constraints = {"alpha_max": Interval(0, 1), "eta": Interval(1, 2), "beta": Interval(0, 1)}

    def label(self) -> str:
        return "fab-t"

    def __init__(
        self,
        eps: Eps | str | None = None,
        steps: int = 100,
        norm: str | Norm = "linf",
        n_targets: int = 9,
        restarts: int = 1,
        alpha_max: float = 0.1,
        eta: float = 1.05,
        beta: float = 0.9,
        early_stop: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        straight_through: bool = False,
    ):
        super().__init__(
            eps=eps,
            steps=steps,
            norm=norm,
            loss="gap-targeted",
            random_start=restarts > 1,  # the first run starts at x, each later one at a random point
            restarts=restarts,
            early_stop=early_stop,
            bounds=bounds,
            batch_size=batch_size,
            seed=seed,
            straight_through=straight_through,
        )
        if eps is None and restarts > 1:
            raise ConfigError("FAB's later restarts start at eps / 2 from x: give eps, or keep restarts=1.")
        self.alpha_max, self.eta, self.beta = float(alpha_max), float(eta), float(beta)
        self.n_targets = int(n_targets)

    def step_rule(self) -> StepRule:
        raise ConfigError("FAB has no step rule: its loop is its own (loop_rule).")

    def loop_rule(self) -> FABRule:
        return FABRule(self.steps, self.restarts, self.alpha_max, self.eta, self.beta, self.early_stop)

    def config(self) -> dict:
        return {**super().config(), "n_targets": self.n_targets}

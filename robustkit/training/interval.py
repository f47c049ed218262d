"""Certified training inside ``model.fit``: interval bound propagation (IBP, Gowal et al. 2018) and
CROWN-IBP (Zhang et al. 2020).

A network trained on clean or even adversarial inputs is usually far from verifiable: its bounds
are loose because nothing asked them to be tight. :class:`IntervalTrainer` trains on the interval
bounds themselves. For every batch it propagates the L-inf box of radius eps around each input
through the network (:mod:`robustkit.verify.intervals`, with the weights of this step) and takes
the worst-case logits, minus each margin's lower bound; the loss is
``kappa * CE(logits) + (1 - kappa) * CE(worst-case logits)``. As in Gowal et al., eps rises from 0
and kappa falls from 1 over the first ``ramp_steps`` steps, since a full eps from the start stalls
training.

With ``method="crown-ibp"`` the margins' lower bounds mix two bounds: CROWN's linear bound of the
margins carried backward from the logits (:func:`robustkit.verify.linear_bounds.lower_bound`), with
the interval bounds as the intermediate neurons' (one backward pass per batch, so much cheaper than
full CROWN), and the interval bound itself, as ``beta * linear + (1 - beta) * interval``. beta falls
from 1 to ``beta`` (Zhang et al.: 0) over the ramp: the tighter linear bound steers the early
training, which pure IBP makes unstable, and the interval bound, which is what the network ends up
tight for, the end.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    >>> trainer = IntervalTrainer(model, eps=0.1, ramp_steps=4)
    >>> trainer.compile(optimizer="adam", metrics=["accuracy"])
    >>> history = trainer.fit(np.full((8, 4), 0.5, "float32"), np.zeros(8, "int32"), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss', 'robust_loss']
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from robustkit.errors import ConfigError
from robustkit.inputs import validate_bounds
from robustkit.verify.intervals import propagate_intervals
from robustkit.verify.linear_bounds import InputRegion, lower_bound
from robustkit.verify.margins import ibp_margins, margin_spec
from robustkit.verify.network import network_of


class IntervalTrainer(keras.Model):
    """A Keras model that trains its wrapped classifier on its interval bounds (see the module docstring).

    Args:
        model: the classifier to train, made of layers :func:`robustkit.verify.network_of` can bound.
        eps: the L-inf radius to certify at the end of the ramp, in input units.
        kappa: the weight of the clean loss once the ramp is over (Gowal et al.: 0.5).
        ramp_steps: optimizer steps over which eps rises from 0 and kappa falls from 1 (0: none).
        bounds: the inputs' bounds; the box is clipped to them.
        method: ``"ibp"`` or ``"crown-ibp"`` (see the module docstring).
        beta: with ``"crown-ibp"``, the linear bound's weight once the ramp is over (it starts at 1).
    """

    def __init__(
        self,
        model: keras.Model,
        eps: float = 0.1,
        kappa: float = 0.5,
        ramp_steps: int = 0,
        bounds: Any = (0.0, 1.0),
        method: str = "ibp",
        beta: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < math.inf:
            raise ConfigError(f"eps must be a number >= 0 (the L-inf radius to certify), got {eps!r}.")
        if not 0.0 <= float(kappa) <= 1.0:
            raise ConfigError(f"kappa must lie in [0, 1] (the clean loss's weight), got {kappa!r}.")
        if isinstance(ramp_steps, bool) or not isinstance(ramp_steps, int) or ramp_steps < 0:
            raise ConfigError(f"ramp_steps must be an integer >= 0, got {ramp_steps!r}.")
        if method not in ("ibp", "crown-ibp"):
            raise ConfigError(f"method must be 'ibp' or 'crown-ibp', got {method!r}.")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta <= 1.0:
            raise ConfigError(f"beta must lie in [0, 1] (the linear bound's final weight), got {beta!r}.")
        network_of(model)  # refuse a layer that cannot be bounded now, not in the first step
        self.model, self.eps, self.kappa, self.ramp_steps = model, float(eps), float(kappa), ramp_steps
        self.method, self.beta = method, float(beta)
        lower, upper = validate_bounds(bounds)
        self.lower, self.upper = np.asarray(lower, np.float32), np.asarray(upper, np.float32)
        self.robust_tracker = keras.metrics.Mean(name="robust_loss")

    def call(self, x, training=False):
        return self.model(x, training=training)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Compile; the loss defaults to sparse categorical cross-entropy on logits."""
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def save(self, filepath: Any, *args, **kwargs):
        """Save the wrapped model (a plain Keras model, loadable without robustkit)."""
        return self.model.save(filepath, *args, **kwargs)

    def get_config(self):
        raise NotImplementedError("Save the trained network with trainer.save(path); it is a plain Keras model.")

    @property
    def metrics(self):
        return [*super().metrics, self.robust_tracker]

    def _progress(self) -> tf.Tensor:
        """How far the ramp has come, from 0 to 1 (1 without a ramp)."""
        if self.ramp_steps == 0:
            return tf.constant(1.0)
        return tf.minimum(tf.cast(self.optimizer.iterations, tf.float32) / self.ramp_steps, 1.0)

    def _schedule(self) -> tuple[tf.Tensor, tf.Tensor]:
        """``(eps, kappa)`` at this step of the ramp."""
        progress = self._progress()
        return self.eps * progress, 1.0 - (1.0 - self.kappa) * progress

    def robust_logits(self, x: tf.Tensor, y: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        """Worst-case logits over the box: minus each margin's lower bound (0 at the label)."""
        network = network_of(self.model)  # reads this step's weights
        lower, upper = tf.maximum(x - eps, self.lower), tf.minimum(x + eps, self.upper)
        intervals = propagate_intervals(network, lower, upper)
        spec = margin_spec(tf.cast(tf.reshape(y, [-1]), tf.int32), network.shapes[-1][0], x.dtype)
        margins = ibp_margins(network, intervals, spec)
        if self.method == "crown-ibp":
            region = InputRegion(x, lower, upper, eps, "linf")
            linear = lower_bound(network, network.output, spec, intervals, region)
            beta = 1.0 - (1.0 - self.beta) * self._progress()
            margins = beta * linear + (1.0 - beta) * margins
        return -margins

    def train_step(self, data):
        x, y = tf.cast(tf.convert_to_tensor(data[0]), tf.float32), data[1]
        eps, kappa = self._schedule()
        with tf.GradientTape() as tape:
            out = self.model(x, training=True)
            robust = self.compute_loss(x, y, self.robust_logits(x, y, eps))
            loss = kappa * self.compute_loss(x, y, out) + (1.0 - kappa) * robust
        variables = self.model.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        tracker = getattr(self, "_loss_tracker", None)  # Keras's own "loss" metric
        if tracker is not None:
            tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        self.robust_tracker.update_state(robust)
        return {**self.compute_metrics(x, y, out, sample_weight=None), "robust_loss": self.robust_tracker.result()}

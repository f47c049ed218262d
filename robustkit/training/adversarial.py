"""Adversarial training that works with ``model.fit``: PGD-AT, FGSM-RS and TRADES.

:class:`AdversarialTrainer` wraps a Keras classifier. Its ``train_step`` crafts fresh
adversarial examples for every batch inside the compiled training step, then updates the
wrapped model's weights; validation, callbacks and ``tf.distribute`` strategies work as with
any Keras model. The trained network is the wrapped model itself: ``trainer.save(path)`` saves
it, and it loads with plain Keras, without robustkit.

Methods:

* ``"pgd"``: PGD adversarial training (Madry et al., 2018): the loss on PGD-k examples.
* ``"fgsm-rs"``: FGSM from a random start with step 1.25 eps ("Fast is better than free", Wong et
  al., 2020); pair it with :class:`robustkit.training.monitor.RobustAccuracyMonitor` to stop catastrophic overfitting.
* ``"fgsm"``: plain FGSM from the clean point (step eps): cheap, and the classic way to overfit
  catastrophically; kept for comparison and for testing the monitor.
* ``"trades"``: TRADES (Zhang et al., 2019): clean cross-entropy plus ``beta`` times the KL
  divergence between clean and adversarial predictions, maximised by PGD.

Example:
    >>> import keras
    >>> base = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> trainer = AdversarialTrainer(base, method="pgd", eps=0.1, steps=5)
    >>> trainer.compile(optimizer="adam", metrics=["accuracy"])
    >>> # trainer.fit(x_train, y_train, epochs=10, validation_data=(x_val, y_val))
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from robustkit.attacks.ascent import ProjectedAscent
from robustkit.attacks.loop import LoopConfig, build_attack_fn
from robustkit.errors import ConfigError
from robustkit.inputs import validate_bounds
from robustkit.logits import as_logits, default_loss, logits_of_output
from robustkit.norms import get_norm
from robustkit.ranges import in_input_units, parse_eps
from robustkit.row_random import row_keys
from robustkit.tape import value_and_gradient

METHODS = ("pgd", "fgsm-rs", "fgsm", "trades")


class AdversarialTrainer(keras.Model):
    """A Keras model that trains its wrapped classifier on adversarial examples.

    Args:
        model: the classifier to train (logits or softmax output).
        method: ``"pgd"``, ``"fgsm-rs"``, ``"fgsm"`` or ``"trades"`` (see the module docstring).
        eps: radius of the threat model at full strength.
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        steps: attack steps (PGD and TRADES; FGSM-RS takes one).
        step_size: attack step (default: ``2.5 * eps / steps``; FGSM-RS: ``1.25 * eps``).
        beta: TRADES's weight of the robustness term.
        adv_weight: for PGD and FGSM-RS, the weight of the adversarial loss; ``1 - adv_weight``
            goes to the clean loss.
        ramp_epochs: raise eps linearly from ``eps / ramp_epochs`` to ``eps`` over the first
            epochs (0: full eps from the start).
        bounds: input bounds.
        seed: seed of the random starts (each step folds in the optimizer's iteration).
    """

    def __init__(
        self,
        model: keras.Model,
        method: str = "pgd",
        eps: float = 0.1,
        norm: str = "linf",
        steps: int = 7,
        step_size: float | None = None,
        beta: float = 6.0,
        adv_weight: float = 1.0,
        ramp_epochs: int = 0,
        bounds: Any = (0.0, 1.0),
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if method not in METHODS:
            raise ConfigError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
        if not 0.0 <= float(adv_weight) <= 1.0:
            raise ConfigError(f"adv_weight must lie in [0, 1], got {adv_weight!r}.")
        if float(beta) < 0:
            raise ConfigError(f"beta must be >= 0, got {beta!r}.")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps must be an integer >= 1, got {steps!r}.")
        if isinstance(ramp_epochs, bool) or not isinstance(ramp_epochs, int) or ramp_epochs < 0:
            raise ConfigError(f"ramp_epochs must be an integer >= 0, got {ramp_epochs!r}.")
        self.model = model
        self.method = method
        self.full_eps = in_input_units(parse_eps(eps), validate_bounds(bounds))
        self.norm = get_norm(norm)
        single = method in ("fgsm-rs", "fgsm")
        self.steps = 1 if single else steps
        default_step = {"fgsm-rs": 1.25 * self.full_eps, "fgsm": self.full_eps}.get(
            method, 2.5 * self.full_eps / self.steps
        )
        self.step_fraction = (step_size if step_size is not None else default_step) / max(self.full_eps, 1e-12)
        if step_size is not None and (not np.isfinite(step_size) or step_size <= 0):
            raise ConfigError(f"step_size must be finite and > 0, got {step_size!r}.")
        self.beta = float(beta)
        self.adv_weight = float(adv_weight)
        self.ramp_epochs = ramp_epochs
        self.lower, self.upper = validate_bounds(bounds)
        self.seed = int(seed)
        self.eps = keras.Variable(
            self.full_eps if ramp_epochs == 0 else self.full_eps / ramp_epochs,
            trainable=False,
            name="eps",
            dtype="float32",
        )
        self._view = as_logits(model)
        self._attack = build_attack_fn(
            self._view,
            LoopConfig(self.norm, "ce", False, self.steps, keep_best=False, gather=False, score_last=False),
            ProjectedAscent(random_start=method != "fgsm"),
            self.lower,
            self.upper,
        )

    # -- Keras plumbing ------------------------------------------------------------------------

    def call(self, x, training=False):
        return self.model(x, training=training)

    def compile(self, optimizer="adam", loss=None, metrics=None, jit_compile=False, **kwargs):
        """Compile; the loss defaults to sparse categorical cross-entropy on the model's output.

        ``jit_compile`` defaults to False rather than Keras's "auto": on CPU, XLA made PGD-7
        training epochs slower than TensorFlow's own (oneDNN) kernels.
        """
        if loss is None:
            loss = default_loss(self._view)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile, **kwargs)

    def fit(self, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        if self.ramp_epochs:
            callbacks.insert(0, _EpsilonRamp(self))
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def save(self, filepath, *args, **kwargs):
        """Save the wrapped model (a plain Keras model, loadable without robustkit)."""
        return self.model.save(filepath, *args, **kwargs)

    def get_config(self):
        raise NotImplementedError("Save the trained network with trainer.save(path); it is a plain Keras model.")

    # -- training ------------------------------------------------------------------------------

    def _seed(self):
        return tf.stack([tf.constant(self.seed, tf.int32), tf.cast(self.optimizer.iterations, tf.int32)])

    def _logits(self, out):
        return logits_of_output(self._view, out)

    def _craft(self, x, y):
        eps = tf.cast(self.eps, x.dtype)
        step = eps * self.step_fraction
        if self.method == "trades":
            return self._trades_example(x, eps, step)
        x_adv = self._attack(x, tf.cast(y, tf.int32), eps, step, row_keys(self._seed(), tf.shape(x)[0]))[0]
        return tf.stop_gradient(x_adv)

    def _trades_example(self, x, eps, step):
        """Maximise KL(p(x) || p(x')) over the eps-ball with projected steepest ascent."""
        lower = tf.constant(self.lower, x.dtype)
        upper = tf.constant(self.upper, x.dtype)
        p_clean = tf.stop_gradient(tf.nn.softmax(self._view(x)))
        log_clean = tf.math.log(tf.maximum(p_clean, 1e-12))

        def kl(x_adv):
            log_adv = tf.nn.log_softmax(self._view(x_adv))
            return tf.reduce_sum(p_clean * (log_clean - log_adv), axis=-1)

        x_adv = x + 0.001 * tf.random.stateless_normal(tf.shape(x), self._seed(), dtype=x.dtype)
        for _ in range(self.steps):
            _, grad = value_and_gradient(kl, x_adv)
            grad = tf.where(tf.math.is_finite(grad), grad, tf.constant(0, grad.dtype))
            moved = x_adv + step * self.norm.ascent_direction(grad, x_adv, lower, upper)
            x_adv = tf.clip_by_value(x + self.norm.project(moved - x, eps), lower, upper)
        return tf.stop_gradient(x_adv)

    def train_step(self, data):
        x, y = data[0], data[1]
        x = tf.convert_to_tensor(x)
        x_adv = self._craft(x, y)
        with tf.GradientTape() as tape:
            if self.method == "trades":
                out_clean = self.model(x, training=True)
                out_adv = self.model(x_adv, training=True)
                log_adv = tf.nn.log_softmax(self._logits(out_adv))
                p_clean = tf.nn.softmax(self._logits(out_clean))
                kl = tf.reduce_sum(p_clean * (tf.math.log(tf.maximum(p_clean, 1e-12)) - log_adv), axis=-1)
                loss = self.compute_loss(x, y, out_clean) + self.beta * tf.reduce_mean(kl)
                shown = out_adv
            else:
                out_adv = self.model(x_adv, training=True)
                loss = self.adv_weight * self.compute_loss(x_adv, y, out_adv)
                if self.adv_weight < 1.0:
                    out_clean = self.model(x, training=True)
                    loss += (1.0 - self.adv_weight) * self.compute_loss(x, y, out_clean)
                shown = out_adv
        variables = self.model.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        tracker = getattr(self, "_loss_tracker", None)  # Keras's own "loss" metric
        if tracker is not None:
            tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        # Training metrics are measured on the adversarial batch: "accuracy" is robust accuracy
        # against the training attack.
        return self.compute_metrics(x_adv, y, shown, sample_weight=None)


class _EpsilonRamp(keras.callbacks.Callback):
    """Linear eps ramp-up over the first ``ramp_epochs`` epochs."""

    def __init__(self, trainer: AdversarialTrainer):
        super().__init__()
        self.trainer = trainer

    def on_epoch_begin(self, epoch, logs=None):
        fraction = min(1.0, (epoch + 1) / self.trainer.ramp_epochs)
        self.trainer.eps.assign(self.trainer.full_eps * fraction)

"""Gaussian-noise training inside ``model.fit``: the training that makes randomized smoothing certify well.

A smoothed classifier is only as good as its base model's predictions under noise, and a model
trained on clean inputs alone often misclassifies noisy ones (Cohen et al. 2019 train on inputs
with the same noise they certify with). :class:`NoiseTrainer` is a Keras model that wraps a
classifier and trains it on ``x + N(0, sigma^2 I)``, drawn afresh for every batch from the seed
and the optimizer's step (so a seed gives the same weights).

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> trainer = NoiseTrainer(model, sigma=0.25, seed=0)
    >>> trainer.compile(optimizer="adam", metrics=["accuracy"])
    >>> history = trainer.fit(np.zeros((8, 4), "float32"), np.zeros(8, "int32"), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from robustkit.errors import ConfigError
from robustkit.logits import as_logits, default_loss


class NoiseTrainer(keras.Model):
    """A Keras model that trains its wrapped classifier on Gaussian-noise copies of each batch.

    Args:
        model: the classifier to train (logits or softmax output).
        sigma: the noise's standard deviation, in input units (use the sigma you will certify with).
        clean_weight: the weight of the clean batch's loss (0: noisy inputs only, as Cohen et al.).
        seed: seed of the noise (each step folds in the optimizer's iteration).
    """

    def __init__(self, model: keras.Model, sigma: float = 0.25, clean_weight: float = 0.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma < math.inf:
            raise ConfigError(f"sigma must be a number > 0 (the noise's standard deviation), got {sigma!r}.")
        if not 0.0 <= float(clean_weight) <= 1.0:
            raise ConfigError(f"clean_weight must lie in [0, 1], got {clean_weight!r}.")
        self.model, self.sigma, self.clean_weight, self.seed = model, float(sigma), float(clean_weight), int(seed)
        self._view = as_logits(model)

    def call(self, x, training=False):
        return self.model(x, training=training)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Compile; the loss defaults to sparse categorical cross-entropy on the model's output."""
        if loss is None:
            loss = default_loss(self._view)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def save(self, filepath: Any, *args, **kwargs):
        """Save the wrapped model (a plain Keras model, loadable without robustkit)."""
        return self.model.save(filepath, *args, **kwargs)

    def get_config(self):
        raise NotImplementedError("Save the trained network with trainer.save(path); it is a plain Keras model.")

    def train_step(self, data):
        x, y = tf.convert_to_tensor(data[0]), data[1]
        seed = tf.stack([tf.constant(self.seed, tf.int32), tf.cast(self.optimizer.iterations, tf.int32)])
        noisy = x + tf.random.stateless_normal(tf.shape(x), seed, stddev=self.sigma, dtype=x.dtype)
        with tf.GradientTape() as tape:
            out = self.model(noisy, training=True)
            loss = (1.0 - self.clean_weight) * self.compute_loss(noisy, y, out)
            if self.clean_weight > 0:
                loss += self.clean_weight * self.compute_loss(x, y, self.model(x, training=True))
        variables = self.model.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        tracker = getattr(self, "_loss_tracker", None)  # Keras's own "loss" metric
        if tracker is not None:
            tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        # Training metrics are measured on the noisy batch: "accuracy" is accuracy under noise.
        return self.compute_metrics(noisy, y, out, sample_weight=None)

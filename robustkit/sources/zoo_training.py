"""How the zoo's models are made: their architectures and seeded training recipes.

Only a zoo model missing from the cache needs this module (and, for the adversarially trained
ones, robustkit's training code); loading a cached model does not import it.

Example:
    >>> build_cnn().count_params()
    38282
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras
import numpy as np
from tensorflow.python.framework import config as tf_config  # the public API can only enable

from robustkit.sources.split import DataSplit
from robustkit.training.adversarial import AdversarialTrainer
from robustkit.training.corruption_augment import AugMixBatches
from robustkit.training.interval import IntervalTrainer
from robustkit.training.noise import NoiseTrainer


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is trained: an architecture, a method, epochs (and eps for PGD training)."""

    architecture: str  # "mlp" or "cnn"
    method: str  # "natural", "pgd", "noise" (eps: the noise's sigma), "ibp" (certified training) or "augmix"
    epochs: int
    eps: float = 0.0


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed Python, numpy and TensorFlow and make TensorFlow's kernels deterministic."""
    was_enabled = tf_config.is_op_determinism_enabled()
    keras.utils.set_random_seed(seed)
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def build_mlp() -> keras.Model:
    """MLP 64-64 on 8x8x1 digits, logits output."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="digits_mlp",
    )


def build_cnn() -> keras.Model:
    """CNN conv16-conv32/2-dense64 on 8x8x1 digits, logits output."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="digits_cnn",
    )


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {"mlp": build_mlp, "cnn": build_cnn}


def train(recipe: Recipe, data: DataSplit, seed: int) -> keras.Model:
    """Train a fresh model by ``recipe`` (seeded: the same seed gives the same weights)."""
    with deterministic(seed):
        model = ARCHITECTURES[recipe.architecture]()
        if recipe.method == "pgd":
            trainer = AdversarialTrainer(model, method="pgd", eps=recipe.eps, steps=7, ramp_epochs=5, seed=seed)
            trainer.compile(optimizer=keras.optimizers.Adam(2e-3), metrics=["accuracy"])
            trainer.fit(data.x_train, data.y_train, epochs=recipe.epochs, batch_size=32, verbose=0, shuffle=True)
            return model
        if recipe.method == "ibp":
            ramp = 10 * -(-len(np.asarray(data.x_train)) // 32)  # eps and kappa ramp over the first 10 epochs
            certified = IntervalTrainer(model, eps=recipe.eps, kappa=0.5, ramp_steps=ramp)
            certified.compile(optimizer=keras.optimizers.Adam(2e-3), metrics=["accuracy"])
            certified.fit(data.x_train, data.y_train, epochs=recipe.epochs, batch_size=32, verbose=0, shuffle=True)
            return model
        if recipe.method == "augmix":
            model.compile(
                optimizer=keras.optimizers.Adam(2e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
            model.fit(AugMixBatches(data.x_train, data.y_train, 32, seed), epochs=recipe.epochs, verbose=0)
            return model
        if recipe.method == "noise":
            noisy = NoiseTrainer(model, sigma=recipe.eps, seed=seed)
            noisy.compile(optimizer=keras.optimizers.Adam(2e-3), metrics=["accuracy"])
            noisy.fit(data.x_train, data.y_train, epochs=recipe.epochs, batch_size=32, verbose=0, shuffle=True)
            return model
        model.compile(
            optimizer=keras.optimizers.Adam(2e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(data.x_train, data.y_train, epochs=recipe.epochs, batch_size=32, verbose=0, shuffle=True)
    return model

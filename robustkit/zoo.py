"""A small zoo of digits classifiers, trained on first use and cached on disk.

Training is seeded and takes seconds on a CPU. The cache lives in ``$ROBUSTKIT_CACHE`` (default
``~/.cache/robustkit``); delete it to retrain.

Example:
    >>> sorted(ZOO)[:2]
    ['digits-cnn', 'digits-mlp']
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from robustkit.data import DataSplit, load_digits_split
from robustkit.errors import ModelError

ZOO_VERSION = 2


def cache_dir() -> Path:
    """Where trained zoo models are kept."""
    root = os.environ.get("ROBUSTKIT_CACHE") or Path.home() / ".cache" / "robustkit"
    return Path(root) / "zoo"


@contextlib.contextmanager
def deterministic(seed: int):
    """Seed Python, numpy and TensorFlow and make TensorFlow's kernels deterministic."""
    from tensorflow.python.framework import config as tf_config  # the public API can only enable

    was_enabled = tf_config.is_op_determinism_enabled()
    keras.utils.set_random_seed(seed)
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def _mlp() -> keras.Model:
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


def _cnn() -> keras.Model:
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


def _train_natural(build: Callable[[], keras.Model], data: DataSplit, epochs: int, seed: int) -> keras.Model:
    with deterministic(seed):
        model = build()
        model.compile(
            optimizer=keras.optimizers.Adam(2e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, verbose=0, shuffle=True)
    return model


def _train_adversarial(build: Callable[[], keras.Model], data: DataSplit, epochs: int, seed: int, eps: float) -> keras.Model:
    from robustkit.train import AdversarialTrainer  # training code sits above the zoo's layer

    with deterministic(seed):
        model = build()
        trainer = AdversarialTrainer(model, method="pgd", eps=eps, steps=7, ramp_epochs=5, seed=seed)
        trainer.compile(optimizer=keras.optimizers.Adam(2e-3), metrics=["accuracy"])
        trainer.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, verbose=0, shuffle=True)
    return model


@dataclass(frozen=True)
class ZooEntry:
    name: str
    description: str
    train: Callable[[DataSplit, int], keras.Model]
    data: str = "digits"


ZOO: dict[str, ZooEntry] = {
    "digits-mlp": ZooEntry(
        "digits-mlp",
        "MLP 64-64 on the 8x8 digits, natural training (Adam, 40 epochs)",
        lambda data, seed: _train_natural(_mlp, data, 40, seed),
    ),
    "digits-cnn": ZooEntry(
        "digits-cnn",
        "CNN conv16-conv32/2-dense64 on the 8x8 digits, natural training (Adam, 30 epochs)",
        lambda data, seed: _train_natural(_cnn, data, 30, seed),
    ),
    "digits-cnn-pgd": ZooEntry(
        "digits-cnn-pgd",
        "the digits-cnn architecture, PGD adversarial training at L-inf eps=0.1 (PGD-7, eps ramp over 5 of 30 epochs)",
        lambda data, seed: _train_adversarial(_cnn, data, 30, seed, eps=0.1),
    ),
}


def register(entry: ZooEntry) -> None:
    """Add a model to the zoo (used for models that need more of robustkit to train)."""
    ZOO[entry.name] = entry


def model_path(name: str, seed: int = 0) -> Path:
    return cache_dir() / f"{name}-v{ZOO_VERSION}-seed{seed}.keras"


def load_zoo_model(name: str, seed: int = 0, retrain: bool = False) -> keras.Model:
    """Return the zoo model ``name``, training and caching it on first use."""
    if name not in ZOO:
        raise ModelError(f"Unknown zoo model {name!r}; available: {', '.join(sorted(ZOO))} (see `robustkit models`).")
    path = model_path(name, seed)
    if path.exists() and not retrain:
        try:
            return keras.saving.load_model(path, compile=False)
        except Exception:  # a corrupt cache entry is retrained, not fatal
            path.unlink(missing_ok=True)
    entry = ZOO[name]
    model = entry.train(load_digits_split(), seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return model


def weights_fingerprint(model: keras.Model) -> str:
    """SHA-256 (first 16 hex digits) of a model's weights, to tie a report to its model."""
    import hashlib

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]

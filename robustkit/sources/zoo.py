"""A small zoo of digits classifiers, trained on first use and cached on disk.

Training is seeded and takes seconds on a CPU. The cache lives in ``$ROBUSTKIT_CACHE`` (default
``~/.cache/robustkit``); delete it to retrain.

Example:
    >>> sorted(ZOO)
    ['digits-cnn', 'digits-cnn-augmix', 'digits-cnn-ibp', 'digits-cnn-noise', 'digits-cnn-pgd', 'digits-mlp']
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from robustkit._startup import native_stderr_kept, quiet_wanted
from robustkit.errors import ModelError
from robustkit.files import atomic_path
from robustkit.sources.data import load_digits_split

ZOO_VERSION = 3  # 3: random starts keyed by example (adversarial training draws differently)


@dataclass(frozen=True)
class ZooEntry:
    name: str
    description: str
    architecture: str  # see robustkit.sources.zoo_training.ARCHITECTURES
    method: str  # "natural", "pgd", "noise", "ibp" or "augmix"
    epochs: int
    eps: float = 0.0  # PGD training's eps, or the training noise's sigma
    data: str = "digits"


ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in (
        ZooEntry("digits-mlp", "MLP 64-64 on the 8x8 digits, natural training (Adam, 40 epochs)", "mlp", "natural", 40),
        ZooEntry(
            "digits-cnn",
            "CNN conv16-conv32/2-dense64 on the 8x8 digits, natural training (Adam, 30 epochs)",
            "cnn",
            "natural",
            30,
        ),
        ZooEntry(
            "digits-cnn-pgd",
            "the digits-cnn architecture, PGD adversarial training at L-inf eps=0.1 "
            "(PGD-7, eps ramp over 5 of 30 epochs)",
            "cnn",
            "pgd",
            30,
            eps=0.1,
        ),
        ZooEntry(
            "digits-cnn-noise",
            "the digits-cnn architecture, Gaussian-noise training at sigma=0.25 for randomized smoothing "
            "(Adam, 30 epochs)",
            "cnn",
            "noise",
            30,
            eps=0.25,
        ),
        ZooEntry(
            "digits-cnn-ibp",
            "the digits-cnn architecture, certified training by interval bounds at L-inf eps=0.1 "
            "(eps and kappa ramp over 10 of 30 epochs, then kappa 0.5)",
            "cnn",
            "ibp",
            30,
            eps=0.1,
        ),
        ZooEntry(
            "digits-cnn-augmix",
            "the digits-cnn architecture, trained on AugMix mixtures of the benchmark's common corruptions "
            "(width 3, depth 1-3, drawn afresh every epoch; Adam, 30 epochs)",
            "cnn",
            "augmix",
            30,
        ),
    )
}


def cache_dir() -> Path:
    """Where trained zoo models are kept."""
    root = os.environ.get("ROBUSTKIT_CACHE") or Path.home() / ".cache" / "robustkit"
    return Path(root) / "zoo"


def model_path(name: str, seed: int = 0) -> Path:
    return cache_dir() / f"{name}-v{ZOO_VERSION}-seed{seed}.keras"


def load_zoo_model(name: str, seed: int = 0, retrain: bool = False) -> keras.Model:
    """Return the zoo model ``name``, training and caching it on first use.

    Args:
        name: a key of ``ZOO`` (``robustkit models`` lists them).
        seed: the training seed; each seed's model is cached apart.
        retrain: train again even when a cached model exists.
    """
    if name not in ZOO:
        raise ModelError(f"Unknown zoo model {name!r}; available: {', '.join(sorted(ZOO))} (see `robustkit models`).")
    path = model_path(name, seed)
    if path.exists() and not retrain:
        try:
            return keras.saving.load_model(path, compile=False)
        except Exception:  # a corrupt cache entry is retrained, not fatal
            path.unlink(missing_ok=True)
    model = _train(ZOO[name], seed)
    with atomic_path(path) as tmp:
        model.save(tmp)
    return model


def _train(entry: ZooEntry, seed: int) -> keras.Model:
    # Imported here, not at the top: training code (and, for adversarially trained models, the
    # attack loop) is needed only when the cache misses, and loading a cached model must not pay
    # for it. The import follows the layers (sources sit above training).
    from robustkit.sources import zoo_training

    recipe = zoo_training.Recipe(entry.architecture, entry.method, entry.epochs, entry.eps)
    if not quiet_wanted():
        return zoo_training.train(recipe, load_digits_split(), seed)
    with native_stderr_kept():  # Keras's data pipeline logs version notes from C++ while training
        return zoo_training.train(recipe, load_digits_split(), seed)


def weights_fingerprint(model: keras.Model) -> str:
    """SHA-256 (first 16 hex digits) of a model's weights, to tie a report to its model."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]

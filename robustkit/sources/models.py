"""Loading models: zoo names, ``.keras`` files, SavedModel folders and ``module:function``.

Example:
    >>> model_label("models/my_net.keras")
    'my_net'
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from robustkit.errors import ModelError
from robustkit.sources.zoo import ZOO, load_zoo_model, weights_fingerprint


def model_label(spec: str) -> str:
    """A short name for a model spec, used in reports."""
    if spec.startswith("zoo:"):
        return spec[4:]
    if spec in ZOO:
        return spec
    if ":" in spec and not Path(spec).exists():
        return spec.split(":", 1)[1]
    path = Path(spec.rstrip("/"))
    return path.stem if path.suffix else path.name


class SavedModelClassifier(keras.Model):
    """A SavedModel's serving function as a Keras model (inference only)."""

    def __init__(self, path: str, endpoint: str = "serving_default"):
        super().__init__(name=Path(path).name)
        self._layer = keras.layers.TFSMLayer(path, call_endpoint=endpoint)

    def call(self, inputs, training=False):
        out = self._layer(inputs)
        if isinstance(out, dict):
            if len(out) != 1:
                raise ModelError(f"The SavedModel returns several outputs {sorted(out)}; export one logits output.")
            out = next(iter(out.values()))
        return out


def load_model(spec: str, seed: int = 0) -> Any:
    """Load a model from a zoo name, a ``.keras``/``.h5`` file, a SavedModel folder or a factory.

    Args:
        spec: ``"digits-cnn"`` (or ``"zoo:digits-cnn"``), ``"path/model.keras"``,
            ``"path/saved_model_dir"``, or ``"package.module:function"`` (called with no
            arguments, it must return a Keras model or a callable).
        seed: seed of zoo models.
    """
    name = spec[4:] if spec.startswith("zoo:") else spec
    if name in ZOO:
        return load_zoo_model(name, seed=seed)
    path = Path(spec)
    if path.suffix in (".keras", ".h5"):
        if not path.exists():
            raise ModelError(f"Model file {spec!r} does not exist.")
        try:
            return keras.saving.load_model(path, compile=False)
        except Exception as err:
            raise ModelError(f"Could not load the Keras model {spec!r}: {err}") from err
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ModelError(f"{spec!r} is a folder but not a SavedModel (no saved_model.pb).")
        try:
            return SavedModelClassifier(str(path))
        except Exception as err:
            raise ModelError(f"Could not load the SavedModel {spec!r}: {err}") from err
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ModelError(f"Could not import {module_name!r} for the model factory {spec!r}: {err}") from err
        factory = getattr(module, attribute, None)
        if not callable(factory):
            raise ModelError(f"{module_name!r} has no callable {attribute!r}.")
        model = factory()
        if not callable(model):
            raise ModelError(f"The factory {spec!r} returned {type(model).__name__}, not a model.")
        return model
    raise ModelError(
        f"Unknown model {spec!r}: give a zoo name ({', '.join(sorted(ZOO))}), a .keras file, a SavedModel "
        "folder, or module:function."
    )


def fingerprint(model: Any) -> str:
    """A hash of a model's weights ('n/a' for callables without weights)."""
    if hasattr(model, "get_weights"):
        return weights_fingerprint(model)
    variables = getattr(model, "variables", None)
    if variables:
        digest = hashlib.sha256()
        for v in variables:
            digest.update(tf.convert_to_tensor(v).numpy().tobytes())
        return digest.hexdigest()[:16]
    return "n/a"

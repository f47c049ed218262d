"""Loading models: zoo names, ``.keras`` files, SavedModel folders and ``module:function``.

Example:
    >>> model_label("models/my_net.keras")
    'my_net'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from robustkit.errors import ModelError
from robustkit.sources.data import spec_options
from robustkit.sources.factories import call_factory
from robustkit.sources.zoo import ZOO, load_zoo_model, weights_fingerprint


def with_option(spec: str, key: str, value: str) -> str:
    """``spec`` with one more ``?key=value`` option.

    Example:
        >>> with_option("m.keras", "output", "logits"), with_option("m.keras?output=a", "signature", "s")
        ('m.keras?output=logits', 'm.keras?output=a&signature=s')
    """
    return f"{spec}{'&' if '?' in spec else '?'}{key}={value}"


def model_label(spec: str) -> str:
    """A short name for a model spec, used in reports."""
    base, options = spec_options(spec)
    if base.startswith("zoo:"):
        label = base[4:]
    elif base in ZOO:
        label = base
    elif ":" in base and not Path(base).exists():
        label = base.split(":", 1)[1]
    else:
        path = Path(base.rstrip("/"))
        label = path.stem if path.suffix else path.name
    return f"{label}-{options['output']}" if "output" in options else label


class SavedModelClassifier(keras.Model):
    """A SavedModel's signature (``serving_default`` unless named) as a Keras model (inference only)."""

    def __init__(self, path: str, endpoint: str = "serving_default", output: str | None = None):
        super().__init__(name=Path(path).name)
        self._layer = keras.layers.TFSMLayer(path, call_endpoint=endpoint)
        self._output = output

    def call(self, inputs, training=False):
        out = self._layer(inputs)
        if isinstance(out, dict):
            if self._output is not None:
                if self._output not in out:
                    raise ModelError(f"The SavedModel has no output {self._output!r}; it has {sorted(out)}.")
                return out[self._output]
            if len(out) != 1:
                raise ModelError(
                    f"The SavedModel returns several outputs {sorted(out)}; choose the logits with "
                    "--output NAME (or saved_model_dir?output=NAME)."
                )
            out = next(iter(out.values()))
        return out


def select_output(model: Any, name: str) -> Any:
    """The sub-model of a Keras model with several outputs that returns only the output ``name``."""
    names = list(getattr(model, "output_names", None) or [])
    if name not in names:
        raise ModelError(
            f"The model has no output named {name!r}; its outputs are {names or 'unnamed'}. "
            "Give one of those names with --output."
        )
    return keras.Model(model.input, model.outputs[names.index(name)], name=f"{model.name}-{name}")


def _application(name: str, options: dict[str, str]) -> Any:
    from robustkit.sources.applications import load_application

    weights: str | None = options.get("weights", "imagenet")
    if weights in ("none", "None", ""):
        weights = None
    size = options.get("size", "224x224").lower().split("x")
    try:
        height, width = int(size[0]), int(size[-1])
        classes = int(options.get("classes", 1000))
    except ValueError:
        raise ModelError(f"keras-app:{name}: write size=HEIGHTxWIDTH and classes=N as integers.") from None
    return load_application(name, weights, (height, width), classes)


def load_model(spec: str, seed: int = 0) -> Any:
    """Load a model from a zoo name, a ``.keras``/``.h5`` file, a SavedModel folder, a Keras application or a factory.

    Args:
        spec: ``"digits-cnn"`` (or ``"zoo:digits-cnn"``), ``"path/model.keras"``,
            ``"path/saved_model_dir"``, ``"keras-app:MobileNetV3Small?weights=none&size=224x224"``, or
            ``"package.module:function"`` (called with no arguments, it must return a Keras model or a
            callable). Options after ``?``: ``output=NAME`` picks one output of a model with several,
            ``signature=NAME`` a SavedModel's signature.
        seed: seed of zoo models.
    """
    base, options = spec_options(spec)
    model = _load(base, options, seed)
    if "output" in options and not isinstance(model, SavedModelClassifier):
        model = select_output(model, options["output"])
    return model


def _load(spec: str, options: dict[str, str], seed: int) -> Any:
    name = spec[4:] if spec.startswith("zoo:") else spec
    if name in ZOO:
        return load_zoo_model(name, seed=seed)
    if spec.startswith("keras-app:"):
        return _application(spec[len("keras-app:") :], options)
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
            return SavedModelClassifier(str(path), options.get("signature", "serving_default"), options.get("output"))
        except Exception as err:
            raise ModelError(f"Could not load the SavedModel {spec!r}: {err}") from err
    if ":" in spec:
        model = call_factory(spec, ModelError)
        if not callable(model):
            raise ModelError(f"The factory {spec!r} returned {type(model).__name__}, not a model.")
        return model
    raise ModelError(
        f"Unknown model {spec!r}: give a zoo name ({', '.join(sorted(ZOO))}), a .keras file, a SavedModel "
        "folder, keras-app:NAME (a Keras application), or module:function."
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

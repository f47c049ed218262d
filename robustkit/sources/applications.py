"""Keras applications (MobileNetV3, ResNet, EfficientNet, ...) as models that read [0, 255] pixels.

Each application is built without its final softmax (it returns logits), and its own preprocessing is
part of the model robustkit attacks, so eps and bounds are
in the space the user's images live in: pixels in [0, 255]. Applications that scale inputs
themselves (MobileNetV3 and EfficientNet with ``include_preprocessing``) are used as they are; the
others get their module's ``preprocess_input`` as a first layer.

Example:
    >>> model = load_application("MobileNetV3Small", weights=None, size=(96, 96), classes=4)
    >>> model.input_shape, model.output_shape
    ((None, 96, 96, 3), (None, 4))
"""

from __future__ import annotations

import importlib
from typing import Any

import keras

from robustkit.errors import ModelError

# Applications that rescale [0, 255] inputs inside the model (their preprocess_input is the identity).
SELF_SCALING = ("MobileNetV3Small", "MobileNetV3Large", "EfficientNet", "ConvNeXt", "RegNet")


@keras.saving.register_keras_serializable(package="robustkit")
class ApplicationPreprocessing(keras.layers.Layer):
    """A Keras application's ``preprocess_input`` as a layer (saved with the model by module name)."""

    def __init__(self, module: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.module = module
        self._preprocess = importlib.import_module(module).preprocess_input

    def call(self, inputs):
        return self._preprocess(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "module": self.module}


def _module_of(constructor: Any) -> str:
    module = constructor.__module__
    return module if hasattr(importlib.import_module(module), "preprocess_input") else ""


def load_application(
    name: str, weights: str | None = "imagenet", size: tuple[int, int] = (224, 224), classes: int = 1000
) -> keras.Model:
    """``keras.applications.<name>`` reading [0, 255] RGB images of ``size``; ``weights=None`` for random weights."""
    constructor = getattr(keras.applications, name, None)
    if constructor is None or not callable(constructor):
        known = sorted(n for n in dir(keras.applications) if n[:1].isupper())
        raise ModelError(f"keras.applications has no model {name!r}; choose one of {', '.join(known)}.")
    try:
        # logits out: robustkit attacks logits, and a softmax head would have to be looked through
        application = constructor(weights=weights, input_shape=(*size, 3), classes=classes, classifier_activation=None)
    except Exception as err:
        raise ModelError(f"Could not build keras.applications.{name} (weights={weights}, size={size}): {err}") from err
    if name.startswith(SELF_SCALING):
        return application
    module = _module_of(constructor)
    if not module:
        return application
    inputs = keras.Input((*size, 3))
    return keras.Model(inputs, application(ApplicationPreprocessing(module)(inputs)), name=f"{name}-pixels")

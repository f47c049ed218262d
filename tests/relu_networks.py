"""Small random ReLU networks and an independent float64 forward pass of their weights (numpy only)."""

from __future__ import annotations

import keras
import numpy as np


def dense_relu_network(seed: int, inputs: int, hidden: list[int], outputs: int, leaky: float = 0.0) -> keras.Model:
    """Dense layers with (leaky) ReLUs between them, random weights from ``seed``."""
    rng = np.random.default_rng(seed)
    layers: list = [keras.Input((inputs,))]
    for width in hidden:
        layers += [
            keras.layers.Dense(width),
            keras.layers.LeakyReLU(negative_slope=leaky) if leaky else keras.layers.ReLU(),
        ]
    layers.append(keras.layers.Dense(outputs))
    model = keras.Sequential(layers)
    model.set_weights(
        [rng.normal(size=w.shape).astype("float32") * (1.0 if w.ndim == 1 else 1.2) for w in model.get_weights()]
    )
    return model


def forward64(model: keras.Model, x: np.ndarray, leaky: float = 0.0) -> np.ndarray:
    """The network's outputs in float64 from its weights alone: ``x W + b`` and ``max(z, leaky z)`` in turn."""
    weights = [np.asarray(w, np.float64) for w in model.get_weights()]
    value = np.asarray(x, np.float64)
    for i in range(0, len(weights), 2):
        value = value @ weights[i] + weights[i + 1]
        if i + 2 < len(weights):
            value = np.maximum(value, leaky * value)
    return value


def grid(lower: np.ndarray, upper: np.ndarray, per_axis: int) -> np.ndarray:
    """Every point of a regular grid over the box (corners included)."""
    axes = [np.linspace(lo, hi, per_axis) for lo, hi in zip(lower, upper)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(lower))

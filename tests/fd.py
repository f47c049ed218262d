"""Central finite differences in float64 and small generated Keras models, for property tests."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from hypothesis import strategies as st

# Central differences with step H have truncation error ~ H**2 * |f'''| / 6 and rounding error
# ~ eps64 * |f| / H. With H = 1e-5 and the small, O(1)-curvature models below both terms are
# below 1e-9, so agreement to atol 1e-6 / rtol 1e-5 separates a right gradient from a wrong
# one (a wrong sign, a missing factor or a dropped term is off by O(1)).
H = 1e-5
ATOL = 1e-6
RTOL = 1e-5


def finite_difference(scalar_fn, x: np.ndarray, h: float = H) -> np.ndarray:
    """d scalar_fn(x) / dx by central differences, all 2 * x.size evaluations in one call.

    ``scalar_fn`` maps a stack of candidate inputs of shape (k, *x.shape) to k scalars.
    """
    n = x.size
    offsets = np.eye(n, dtype=np.float64).reshape((n,) + x.shape) * h
    stacked = np.concatenate([x[None] + offsets, x[None] - offsets], axis=0)
    values = np.asarray(scalar_fn(stacked), dtype=np.float64)
    return ((values[:n] - values[n:]) / (2 * h)).reshape(x.shape)


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "dense", "conv1d", "conv2d"
    activation: str  # "tanh", "softplus", "sigmoid", "relu"
    input_shape: tuple
    width: int
    classes: int
    seed: int


def model_specs():
    kinds = st.sampled_from(["dense", "conv1d", "conv2d"])
    acts = st.sampled_from(["tanh", "softplus", "sigmoid", "relu"])

    @st.composite
    def build(draw):
        kind = draw(kinds)
        if kind == "dense":
            shape = (draw(st.integers(1, 6)),)
        elif kind == "conv1d":
            shape = (draw(st.integers(3, 5)), draw(st.integers(1, 2)))
        else:
            shape = (draw(st.integers(3, 4)), draw(st.integers(3, 4)), draw(st.integers(1, 2)))
        return ModelSpec(
            kind,
            draw(acts),
            shape,
            draw(st.integers(2, 5)),
            draw(st.integers(3, 5)),
            draw(st.integers(0, 2**16)),
        )

    return build()


def build_model(spec: ModelSpec) -> tuple[keras.Model, keras.Model]:
    """A float64 classifier returning logits, and a model of its hidden pre-activations."""
    init = keras.initializers.GlorotUniform(seed=spec.seed)
    bias = keras.initializers.RandomUniform(-0.3, 0.3, seed=spec.seed + 1)
    inputs = keras.Input(spec.input_shape, dtype="float64")
    kw = dict(kernel_initializer=init, bias_initializer=bias, dtype="float64")
    if spec.kind == "dense":
        pre = keras.layers.Dense(spec.width, **kw)(inputs)
    elif spec.kind == "conv1d":
        pre = keras.layers.Conv1D(spec.width, 2, **kw)(inputs)
    else:
        pre = keras.layers.Conv2D(spec.width, 2, **kw)(inputs)
    hidden = keras.layers.Activation(spec.activation, dtype="float64")(pre)
    if spec.kind != "dense":
        hidden = keras.layers.Flatten(dtype="float64")(hidden)
    logits = keras.layers.Dense(spec.classes, kernel_initializer=init, dtype="float64")(hidden)
    return keras.Model(inputs, logits), keras.Model(inputs, pre)


def inputs_for(spec: ModelSpec, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.5, 1.5, (batch,) + spec.input_shape)


def away_from_kinks(spec: ModelSpec, pre_model: keras.Model, x: np.ndarray, margin: float = 1e-3) -> bool:
    """ReLU is differentiable where no pre-activation is within ``margin`` of zero."""
    if spec.activation != "relu":
        return True
    pre = pre_model(x, training=False).numpy()
    return bool(np.min(np.abs(pre)) > margin)

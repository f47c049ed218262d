"""Sound bounds (IBP and CROWN): every value a network takes in the region lies within them."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.errors import ConfigError, InputError, LabelError, ModelError
from robustkit.verify import margin_bounds, network_of, propagate_intervals
from robustkit.verify.linear_bounds import InputRegion
from robustkit.verify.margins import crown_intervals

CLASSES = 3
ACTIVATIONS = ["relu", "leaky", "tanh", "sigmoid", "elu"]


def _activation(name: str) -> keras.layers.Layer:
    return keras.layers.LeakyReLU(negative_slope=0.2) if name == "leaky" else keras.layers.Activation(name)


def _mlp(rng: np.random.Generator, activation: str) -> keras.Model:
    inputs = keras.Input((5,))
    h = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    h = keras.layers.Dense(8)(h)
    h = _activation(activation)(h)
    skip = h
    h = keras.layers.Dense(8, activation="relu")(h)
    h = keras.layers.Dropout(0.5)(h)
    h = keras.layers.Add()([keras.layers.Dense(8)(h), skip])
    h = _activation(activation)(h)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(h))


def _cnn(rng: np.random.Generator, activation: str) -> keras.Model:
    pooling = keras.layers.MaxPooling2D() if rng.random() < 0.5 else keras.layers.AveragePooling2D(2)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2D(4, 3, strides=2 if rng.random() < 0.5 else 1),
            _activation(activation),
            pooling,
            keras.layers.Flatten(),
            keras.layers.Dense(CLASSES),
        ]
    )
    batch_norm = model.layers[1]
    batch_norm.moving_mean.assign(rng.normal(size=4).astype("float32"))
    batch_norm.moving_variance.assign(rng.uniform(0.2, 2.0, size=4).astype("float32"))
    batch_norm.gamma.assign(rng.normal(size=4).astype("float32"))
    return model


def _random_network(seed: int, kind: str, activation: str) -> keras.Model:
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    return (_mlp if kind == "mlp" else _cnn)(rng, activation)


def _points_in_region(rng, center: np.ndarray, eps: float, norm: str, count: int) -> np.ndarray:
    """Points of the ball around ``center`` within [0, 1]: corners of the L-inf box, and random points."""
    shape = (count,) + center.shape[1:]
    if norm == "linf":
        steps = eps * np.where(rng.random(shape) < 0.7, np.sign(rng.normal(size=shape)), rng.uniform(-1, 1, shape))
    else:
        direction = rng.normal(size=shape)
        direction /= np.linalg.norm(direction.reshape(count, -1), axis=1).reshape((count,) + (1,) * (len(shape) - 1))
        steps = direction * eps * rng.uniform(0.5, 1.0, (count,) + (1,) * (len(shape) - 1))
    return np.clip(center + steps, 0.0, 1.0).astype("float32")  # clipping toward [0, 1] stays in the ball


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["mlp", "cnn"]),
    activation=st.sampled_from(ACTIVATIONS),
    eps=st.sampled_from([0.0, 0.01, 0.05, 0.3]),
    norm=st.sampled_from(["linf", "l2"]),
)
def test_every_value_in_the_region_lies_within_the_bounds(seed, kind, activation, eps, norm):
    model = _random_network(seed, kind, activation)
    rng = np.random.default_rng(seed + 1)
    shape = model.inputs[0].shape[1:]
    center = rng.uniform(0.0, 1.0, (1, *shape)).astype("float32")
    label = int(np.argmax(model(center).numpy()))
    points = _points_in_region(rng, center, eps, norm, 200)
    network = network_of(model)
    logits = network.logits(tf.constant(points)).numpy()
    scale = 1e-5 * (1.0 + np.abs(logits).max())

    region = InputRegion(
        tf.constant(center),
        tf.constant(np.clip(center - eps, 0, 1)),
        tf.constant(np.clip(center + eps, 0, 1)),
        eps,
        norm,
    )
    for intervals in (propagate_intervals(network, region.lower, region.upper), crown_intervals(network, region)):
        lower, upper = (bound.numpy() for bound in intervals[-1])
        assert np.all(logits >= lower - scale) and np.all(logits <= upper + scale)
    found = margin_bounds(model, center, [label], eps, norm=norm, method="best")
    margins = (logits[:, [label]] - logits)[:, np.arange(CLASSES) != label]
    for bound in (found.ibp, found.crown, found.lower):
        assert np.all(margins >= bound[:, np.arange(CLASSES) != label] - scale)


@pytest.mark.parametrize("norm", ["linf", "l2", "l1"])
def test_a_linear_model_gets_its_exact_margins(norm):
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=4).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    model.set_weights([weights, bias])
    x = rng.uniform(0.3, 0.7, size=(5, 6)).astype("float32")  # the ball (eps 0.1) stays inside [0, 1]
    y = rng.integers(0, 4, size=5)
    found = margin_bounds(model, x, y, 0.1, norm=norm, method="crown")
    dual = {"linf": 1, "l2": 2, "l1": np.inf}[norm]
    for i in range(5):
        for j in range(4):
            if j == y[i]:
                continue
            direction = weights[:, y[i]] - weights[:, j]
            exact = direction @ x[i] + bias[y[i]] - bias[j] - 0.1 * np.linalg.norm(direction, ord=dual)
            assert found.crown[i, j] == pytest.approx(exact, abs=1e-5)
    if norm == "linf":  # the last layer folded into the margins: intervals are exact through one layer too
        assert np.allclose(margin_bounds(model, x, y, 0.1, method="ibp").lower, found.crown, atol=1e-5)


def test_crown_is_tighter_than_intervals_on_a_deep_relu_network():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((10,))] + [keras.layers.Dense(16, activation="relu") for _ in range(4)] + [keras.layers.Dense(3)]
    )
    x = np.random.default_rng(3).uniform(0.2, 0.8, (8, 10)).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1)
    found = margin_bounds(model, x, y, 0.02, method="best")
    finite = np.isfinite(found.lower)
    assert np.all(found.crown[finite] >= found.ibp[finite] - 1e-5)
    assert np.mean(found.crown[finite] - found.ibp[finite]) > 0.1
    assert np.all(found.alpha[finite] >= found.crown[finite])
    assert np.all(found.lower[finite] == np.maximum(np.maximum(found.crown, found.ibp), found.alpha)[finite])


def test_verified_examples_resist_an_attack_and_only_small_balls_verify():
    from robustkit.attacks import PGD

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(12, activation="relu"), keras.layers.Dense(3)])
    x = np.random.default_rng(5).uniform(0, 1, (64, 4)).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1)
    small = margin_bounds(model, x, y, 0.01).verified
    large = margin_bounds(model, x, y, 0.5).verified
    assert small.sum() > large.sum() and small.any()
    adversarial = PGD(eps=0.01, steps=20, step_size=0.002, random_start=False)(model, x[small], y[small])
    assert np.array_equal(np.argmax(model(adversarial).numpy(), axis=1), y[small])


@pytest.mark.parametrize(
    "layer, named",
    [
        (keras.layers.LayerNormalization(name="norm_layer"), "norm_layer"),
        (keras.layers.Activation("gelu", name="gelu_layer"), "gelu_layer"),
        (keras.layers.Dense(4, activation="swish", name="swish_dense"), "swish_dense"),
    ],
)
def test_a_layer_that_cannot_be_bounded_is_named(layer, named):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), layer, keras.layers.Dense(2)])
    with pytest.raises(ModelError, match=named):
        network_of(model)


def test_bad_input_is_refused_with_what_to_fix():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.full((2, 4), 0.5, "float32")
    with pytest.raises(ConfigError, match="norm"):
        margin_bounds(model, x, [0, 1], 0.1, norm="l3")
    with pytest.raises(ConfigError, match="method"):
        margin_bounds(model, x, [0, 1], 0.1, method="exact")
    with pytest.raises(ConfigError, match="eps"):
        margin_bounds(model, x, [0, 1], -0.1)
    with pytest.raises(InputError, match="outside the bounds"):
        margin_bounds(model, x + 1.0, [0, 1], 0.1)
    with pytest.raises(LabelError, match="3 classes"):
        margin_bounds(model, x, [0, 3], 0.1)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_the_bounds_hold_on_large_inputs_in_every_float_dtype(dtype):
    """Inputs in [0, 1000] (a model that rescales them), eps 20: the same soundness, whatever x's dtype."""
    keras.utils.set_random_seed(11)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Rescaling(1 / 1000),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(CLASSES),
        ]
    )
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 1000, (4, 6)).astype(dtype)
    y = np.argmax(model(x.astype("float32")).numpy(), axis=1)
    found = margin_bounds(model, x, y, 20.0, bounds=(0.0, 1000.0), method="best")
    assert found.lower.dtype == np.float64 and np.all(np.isfinite(found.lower[found.lower < np.inf]))
    for i in range(len(x)):
        steps = 20.0 * np.sign(rng.normal(size=(300, 6)))
        points = np.clip(x[i].astype("float64") + steps, 0, 1000).astype("float32")
        logits = model(points).numpy().astype(np.float64)
        margins = logits[:, [y[i]]] - logits
        others = np.arange(CLASSES) != y[i]
        assert np.all(margins[:, others] >= found.lower[i, others] - 1e-5 * (1 + np.abs(logits).max()))

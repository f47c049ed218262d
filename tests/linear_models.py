"""Linear classifiers whose robustness has a closed form (importable as ``tests.linear_models:NAME``).

A two-class model ``logits = (w . x + b, 0)`` on any input shape. Its decision boundary is the
hyperplane ``w . x + b = 0``, so every radius is known by hand:

- the exact L2 distance of x to the boundary is ``|w . x + b| / ||w||_2``;
- the exact L-inf distance is ``|w . x + b| / ||w||_1`` (the dual norm);
- under Gaussian noise of std sigma, ``P(class 0) = Phi((w . x + b) / (sigma ||w||_2))``, so the smoothed
  classifier equals the base classifier and its exact L2 radius is the L2 distance above.
"""

from __future__ import annotations

import keras
import numpy as np


def linear_weights(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, float]:
    """A fixed direction ``w`` (flattened, float64) and bias ``b`` for inputs in [0, 1] of ``shape``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=int(np.prod(shape)))
    return w, float(-w.sum() / 2)  # the boundary passes through the middle of the box


def linear_model(shape: tuple[int, ...], seed: int = 0) -> keras.Model:
    """``logits = (w . x + b, 0)`` on inputs of ``shape`` (see the module docstring)."""
    w, b = linear_weights(shape, seed)
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(2)])
    kernel = np.stack([w, np.zeros_like(w)], axis=1).astype("float32")
    model.set_weights([kernel, np.array([b, 0.0], "float32")])
    return model


def rgb_linear() -> keras.Model:
    """The linear model on 32x32x3 images (a factory with no arguments, for suites)."""
    return linear_model((32, 32, 3), seed=3)


def exact_distances(x: np.ndarray, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each example's exact L2 and L-inf distance to the boundary, in float64 (the hand computation)."""
    w, b = linear_weights(shape, seed)
    margin = np.abs(np.asarray(x, np.float64).reshape(len(x), -1) @ w + b)
    return margin / np.linalg.norm(w, 2), margin / np.linalg.norm(w, 1)


def pooling_cnn() -> keras.Model:
    """A small CNN on [0, 255] digits with max pooling (which the exact verifier cannot encode), trained once."""
    from robustkit.sources.data import load_digits_split

    data = load_digits_split()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(8, 3, activation="relu"),
         keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10)]
    )  # fmt: skip
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train * 255, data.y_train, epochs=15, batch_size=64, verbose=0)
    return model


def table_linear() -> keras.Model:
    """The linear model on rows of 4 features (a factory with no arguments, for suites)."""
    return linear_model((4,), seed=2)

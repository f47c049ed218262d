"""Exact verification (MILP): its optimum is the true minimum, and its counterexamples are real."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from robustkit.errors import ConfigError, ModelError
from robustkit.verify import exact_verify, margin_bounds


def _small_network(seed: int, inputs: int, leaky: bool = False) -> keras.Model:
    keras.utils.set_random_seed(seed)
    activation = keras.layers.LeakyReLU(negative_slope=0.1) if leaky else keras.layers.ReLU()
    start = keras.Input((inputs,))
    hidden = activation(keras.layers.Dense(8)(start))
    hidden = keras.layers.Add()([hidden, keras.layers.Dense(8, activation="relu")(hidden)])
    return keras.Model(start, keras.layers.Dense(3)(hidden))


def _grid(center: np.ndarray, eps: float, points: int) -> np.ndarray:
    axes = [np.linspace(max(c - eps, 0.0), min(c + eps, 1.0), points) for c in center]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(center)).astype("float32")


def _margins(model: keras.Model, x: np.ndarray, label: int) -> np.ndarray:
    logits = model(x).numpy().astype(np.float64)
    return np.min(np.delete(logits[:, [label]] - logits, label, axis=1), axis=1)


@pytest.mark.parametrize("seed, inputs, leaky", [(0, 2, False), (1, 2, True), (2, 3, False), (3, 3, True)])
def test_the_optimum_is_the_minimum_over_a_dense_grid_and_its_witness_reproduces_it(seed, inputs, leaky):
    model = _small_network(seed, inputs, leaky)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.8, (3, inputs)).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1)
    eps = 0.15
    found = exact_verify(model, x, y, eps, prune=False)
    for i in range(len(x)):
        grid = _grid(x[i], eps, 301 if inputs == 2 else 41)
        dense_minimum = _margins(model, grid, y[i]).min()
        spacing = 2 * eps / (300 if inputs == 2 else 40)
        slope = np.abs(model(grid[:1]).numpy()).max() + 10.0  # a loose Lipschitz bound's share per grid step
        assert found.margin[i] <= dense_minimum + 1e-4  # the program's minimum is below every grid point
        assert found.margin[i] >= dense_minimum - slope * spacing * inputs  # and no lower than the grid allows
        at_witness = _margins(model, found.witness[i : i + 1], y[i])[0]
        assert at_witness == pytest.approx(found.margin[i], abs=1e-4)
        assert np.all(np.abs(found.witness[i] - x[i]) <= eps + 1e-6)
        expected = "verified" if dense_minimum > 1e-3 else "broken" if dense_minimum < -1e-3 else found.status[i]
        assert found.status[i] == expected


@pytest.fixture(scope="module")
def decided():
    """A 4-input ReLU network, 24 points and the exact verifier's answers at eps 0.08 (some of each kind)."""
    model = _small_network(7, 4)
    x = np.random.default_rng(7).uniform(0.1, 0.9, (24, 4)).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1)
    return model, x, y, exact_verify(model, x, y, 0.08)


def test_counterexamples_are_misclassified_and_verified_examples_stay_verified(decided):
    model, x, y, found = decided
    broken = found.status == "broken"
    assert broken.any() and (found.status == "verified").any()
    predicted = np.argmax(model(found.counterexample[broken]).numpy(), axis=1)
    assert np.all(predicted != y[broken])
    assert np.all(np.abs(found.counterexample[broken] - x[broken]) <= 0.08 + 1e-6)
    bounded = margin_bounds(model, x, y, 0.08).verified
    assert np.all(found.status[bounded] == "verified")  # a sound bound's proof is never contradicted
    assert np.all(found.margin[found.status == "verified"] > 0)


def test_what_exact_verification_cannot_encode_is_refused():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    with pytest.raises(ModelError, match="smooth activation"):
        exact_verify(model, np.full((1, 2), 0.5, "float32"), [0], 0.1)
    relu = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    with pytest.raises(ConfigError, match="time_limit"):
        exact_verify(relu, np.full((1, 2), 0.5, "float32"), [0], 0.1, time_limit=0)


def test_the_verification_check_passes_on_real_answers_and_fails_on_planted_ones(decided):
    from robustkit.verify import check_verification

    model, x, y, found = decided
    verified = found.status == "verified"
    check = check_verification(model, x, y, 0.08, verified, found)
    assert check.passed and check.checked == verified.sum()

    wrong_proof = verified | (found.status == "broken")  # a "proof" for examples with a real counterexample
    assert set(check_verification(model, x, y, 0.08, wrong_proof).broken_proofs) == set(
        np.flatnonzero(~verified & wrong_proof)
    )
    planted = np.where(found.status == "verified", "broken", found.status)
    fake = type(found)(planted, found.margin, np.where(verified[:, None], x, found.witness), found.seconds)
    assert set(check_verification(model, x, y, 0.08, verified * False, fake).false_counterexamples) == set(
        np.flatnonzero(verified)
    )

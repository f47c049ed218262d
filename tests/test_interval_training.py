"""Certified training: a model trained on its interval bounds can be verified where a naturally trained one cannot."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from robustkit.errors import ConfigError, ModelError
from robustkit.training import IntervalTrainer
from robustkit.verify import margin_bounds
from robustkit.verify.intervals import propagate_intervals
from robustkit.verify.linear_bounds import InputRegion, lower_bound
from robustkit.verify.margins import margin_spec
from robustkit.verify.network import network_of

EPS = 0.05


def _mlp() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


@pytest.mark.slow
def test_interval_training_makes_a_model_verifiable(digits):
    x, y = digits.x_test[:200].astype("float32"), digits.y_test[:200]
    verified = {}
    for certified in (False, True):
        model = _mlp()
        if certified:
            trainer = IntervalTrainer(model, eps=EPS, ramp_steps=5 * 45)
            trainer.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
            history = trainer.fit(digits.x_train, digits.y_train, epochs=10, batch_size=32, verbose=0)
            assert history.history["robust_loss"][-1] < history.history["robust_loss"][0]
        else:
            model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(digits.x_train, digits.y_train, epochs=10, batch_size=32, verbose=0)
        correct = np.argmax(model(x).numpy(), axis=1) == y
        assert correct.mean() > 0.85
        verified[certified] = (margin_bounds(model, x, y, EPS, method="ibp").verified & correct).mean()
    assert verified[True] > 0.5 and verified[True] > verified[False] + 0.3


def test_interval_training_refuses_what_it_cannot_bound_before_training():
    with pytest.raises(ConfigError, match="eps"):
        IntervalTrainer(_mlp(), eps=-0.1)
    with pytest.raises(ConfigError, match="kappa"):
        IntervalTrainer(_mlp(), kappa=2.0)
    gelu = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="gelu"), keras.layers.Dense(2)])
    with pytest.raises(ModelError, match="gelu"):
        IntervalTrainer(gelu)


@pytest.mark.slow
def test_crown_ibp_training_makes_a_model_verifiable(digits):
    x, y = digits.x_test[:200].astype("float32"), digits.y_test[:200]
    model = _mlp()
    trainer = IntervalTrainer(model, eps=EPS, ramp_steps=5 * 45, method="crown-ibp")
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    history = trainer.fit(digits.x_train, digits.y_train, epochs=10, batch_size=32, verbose=0)
    assert history.history["robust_loss"][-1] < history.history["robust_loss"][0]
    correct = np.argmax(model(x).numpy(), axis=1) == y
    assert correct.mean() > 0.85
    assert (margin_bounds(model, x, y, EPS, method="crown").verified & correct).mean() > 0.6


def test_crown_ibp_starts_from_the_linear_bound_and_every_bound_is_sound(digits):
    model = _mlp()  # untrained: its bounds are loose, so an unsound one shows
    x, y = digits.x_test[:16].astype("float32"), digits.y_test[:16]
    eps = tf.constant(0.05)
    bounds = {}
    for method in ("ibp", "crown-ibp"):
        trainer = IntervalTrainer(model, eps=0.05, ramp_steps=10, method=method)
        trainer.compile(optimizer="adam")
        bounds[method] = -trainer.robust_logits(tf.constant(x), tf.constant(y), eps).numpy()  # margins' bounds
    region = InputRegion(
        tf.constant(x), tf.clip_by_value(x - 0.05, 0, 1), tf.clip_by_value(x + 0.05, 0, 1), 0.05, "linf"
    )
    network = network_of(model)
    spec = margin_spec(tf.constant(y, tf.int32), 10, tf.float32)
    linear = lower_bound(
        network, network.output, spec, propagate_intervals(network, region.lower, region.upper), region
    )
    np.testing.assert_allclose(bounds["crown-ibp"], linear.numpy(), rtol=1e-5, atol=1e-5)  # beta = 1 at step 0
    assert np.mean(bounds["crown-ibp"] > bounds["ibp"] + 1e-6) > 0.5  # tighter than the intervals, mostly
    rng = np.random.default_rng(0)
    for _ in range(20):  # the margins at points of the box lie above both bounds
        points = np.clip(x + rng.uniform(-0.05, 0.05, x.shape), 0, 1).astype("float32")
        logits = model(points).numpy()
        margins = logits[np.arange(16), y][:, None] - logits
        for found in bounds.values():
            assert np.all(margins >= found - 1e-4)


def test_crown_ibp_settings_are_checked():
    with pytest.raises(ConfigError, match="method"):
        IntervalTrainer(_mlp(), method="crown")
    with pytest.raises(ConfigError, match="beta"):
        IntervalTrainer(_mlp(), method="crown-ibp", beta=1.5)

"""Certified training: a model trained on its interval bounds can be verified where a naturally trained one cannot."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from robustkit.errors import ConfigError, ModelError
from robustkit.training import IntervalTrainer
from robustkit.verify import margin_bounds

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

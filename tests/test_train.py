"""Adversarial training with model.fit, the overfitting monitor, and augmentation."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from robustkit.attacks import FGSM, PGD
from robustkit.errors import ConfigError
from robustkit.sources.zoo_training import build_cnn, deterministic
from robustkit.training.adversarial import AdversarialTrainer
from robustkit.training.augment import adversarial_arrays, augment_dataset, mix_adversarial
from robustkit.training.monitor import RobustAccuracyMonitor


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pgd", "fgsm-rs", "trades"])
def test_fit_decreases_the_loss_and_round_trips_through_save_and_load(method, digits, tmp_path):
    x, y = digits.x_train[:512], digits.y_train[:512]
    with deterministic(0):
        model = build_cnn()
        trainer = AdversarialTrainer(
            model, method=method, eps=0.1, steps=3, ramp_epochs=2, adv_weight=0.8 if method == "pgd" else 1.0
        )
        trainer.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
        seen = []
        history = trainer.fit(
            x,
            y,
            epochs=4,
            batch_size=64,
            verbose=0,
            validation_data=(digits.x_test[:100], digits.y_test[:100]),
            callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))],
        )
    losses = history.history["loss"]
    assert losses[-1] < losses[0] and np.all(np.isfinite(losses))
    assert "val_loss" in history.history and "val_accuracy" in history.history
    assert seen == [0, 1, 2, 3]
    assert float(trainer.eps.numpy()) == pytest.approx(0.1)  # the ramp reached full strength
    path = tmp_path / f"{method}.keras"
    trainer.save(path)
    # The saved file is the plain model: plain Keras loads it, without robustkit.
    code = (
        "import sys, numpy as np, keras; m = keras.saving.load_model(sys.argv[1]); "
        "assert 'robustkit' not in sys.modules; x = np.load(sys.argv[2]); print(float(m(x).numpy().sum()))"
    )
    np.save(tmp_path / "x.npy", digits.x_test[:8])
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(
        float(model(digits.x_test[:8]).numpy().sum()), rel=1e-5
    )


def test_training_under_a_distribution_strategy(digits):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = build_cnn()
        trainer = AdversarialTrainer(model, method="pgd", eps=0.1, steps=2)
        trainer.compile(optimizer="adam", metrics=["accuracy"])
    history = trainer.fit(digits.x_train[:256], digits.y_train[:256], epochs=2, batch_size=64, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.slow
def test_monitor_stops_a_run_whose_robustness_collapses(digits):
    class SwitchOffTheAttack(keras.callbacks.Callback):
        """From epoch 5 on, eps is 0: the run keeps its clean accuracy and loses its robustness."""

        def __init__(self, trainer):
            super().__init__()
            self.trainer = trainer

        def on_epoch_begin(self, epoch, logs=None):
            if epoch >= 5:
                self.trainer.eps.assign(0.0)

    with deterministic(0):
        model = build_cnn()
        trainer = AdversarialTrainer(model, method="fgsm-rs", eps=0.15)
        trainer.compile(optimizer=keras.optimizers.Adam(5e-3), metrics=["accuracy"])
        monitor = RobustAccuracyMonitor(digits.x_test[:200], digits.y_test[:200], eps=0.15, restore_best=True)
        history = trainer.fit(
            digits.x_train,
            digits.y_train,
            epochs=20,
            batch_size=32,
            verbose=0,
            callbacks=[SwitchOffTheAttack(trainer), monitor],
        )
    assert monitor.collapsed_at is not None and len(history.history["loss"]) < 20
    assert "val_robust_accuracy" in history.history
    best = max(r for _, _, r in monitor.history)
    restored = PGD(eps=0.15, steps=10, seed=0).run(model, digits.x_test[:200], digits.y_test[:200])
    assert restored.robust_accuracy == pytest.approx(best, abs=1e-9)


@pytest.mark.slow
def test_monitor_is_quiet_on_steady_training(digits):
    with deterministic(1):
        model = build_cnn()
        trainer = AdversarialTrainer(model, method="pgd", eps=0.1, steps=3)
        trainer.compile(optimizer="adam")
        monitor = RobustAccuracyMonitor(digits.x_test[:100], digits.y_test[:100], eps=0.1, steps=5)
        history = trainer.fit(digits.x_train, digits.y_train, epochs=3, batch_size=64, verbose=0, callbacks=[monitor])
    assert monitor.collapsed_at is None and len(history.history["loss"]) == 3


def test_bad_training_configuration():
    model = build_cnn()
    with pytest.raises(ConfigError, match="Unknown method 'free'"):
        AdversarialTrainer(model, method="free")
    with pytest.raises(ConfigError, match="adv_weight must lie in"):
        AdversarialTrainer(model, adv_weight=1.5)
    with pytest.raises(ConfigError, match="eps must be finite"):
        AdversarialTrainer(model, eps=-1)


def test_adversarially_trained_zoo_model_is_more_robust(digits, digits_cnn, digits_cnn_pgd):
    x, y = digits.x_test, digits.y_test
    natural = PGD(eps=0.1, steps=20, seed=0).run(digits_cnn, x, y)
    robust = PGD(eps=0.1, steps=20, seed=0).run(digits_cnn_pgd, x, y)
    assert robust.clean_accuracy > 0.9
    assert robust.robust_accuracy > natural.robust_accuracy + 0.2


def test_augmentation_obeys_the_attack_guarantees(digits, digits_cnn):
    x, y = digits.x_test[:100], digits.y_test[:100]
    inputs, labels, flags = adversarial_arrays(
        digits_cnn, x, y, PGD(eps=0.1, steps=5, seed=0), ratio=1.0, keep_originals=False
    )
    assert inputs.shape == x.shape and flags.all()
    assert np.abs(inputs - x).max() <= 0.1 + 1e-6 and inputs.min() >= 0 and inputs.max() <= 1
    np.testing.assert_array_equal(labels, y)
    inputs, labels, flags = adversarial_arrays(digits_cnn, x, y, FGSM(eps=0.2), ratio=0.25, keep_originals=True)
    assert len(inputs) == 125 and flags.sum() == 25
    np.testing.assert_array_equal(inputs[:100], x)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    batches = list(augment_dataset(dataset, digits_cnn, PGD(eps=0.05, steps=3, seed=0), ratio=0.5, keep_originals=True))
    total = sum(len(b[0]) for b in batches)
    assert total == 100 + sum(round(0.5 * n) for n in (32, 32, 32, 4))
    for xb, _ in batches:
        assert np.all(xb.numpy() >= 0) and np.all(xb.numpy() <= 1)
    with pytest.raises(ConfigError, match="ratio must lie"):
        mix_adversarial(x, x, y, ratio=2.0)

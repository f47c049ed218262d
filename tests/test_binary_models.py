"""Binary classifiers with one output (a sigmoid, or one logit) are read as two classes with logits [0, z].

The oracle is an independent construction: the same network written by hand as an explicit two-class
model whose last layer has the kernel ``[0, w]`` and bias ``[0, b]``. Every kind of evaluation must give
the same answers on both, and the predictions are checked against ``sigmoid(z) > 1/2`` by hand.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from robustkit.attacks import PGD, AutoAttack
from robustkit.certify import certify
from robustkit.cli import main
from robustkit.corruptions import corrupt
from robustkit.logits import as_logits
from robustkit.training import AdversarialTrainer
from robustkit.verify import exact_verify, margin_bounds


def _credit(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A credit-risk table: features of very different scales, a one-hot home status, a binary label."""
    rng = np.random.default_rng(seed)
    income, debt, age, home = (
        rng.normal(50000, 15000, n).round(2),
        rng.uniform(0, 1, n),
        rng.integers(18, 80, n),
        rng.integers(0, 3, n),
    )
    score = (income - 50000) / 15000 - 2 * (debt - 0.5) + 0.3 * (home == 1) + rng.normal(0, 0.5, n)
    columns = {"income": income, "debt_ratio": debt.round(3), "age": age, "home_own": (home == 0) * 1}
    columns.update({"home_rent": (home == 1) * 1, "home_other": (home == 2) * 1, "default": (score < 0) * 1})
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def credit():
    """The table, and a sigmoid model trained on it (scaling inside, as users build them)."""
    frame = _credit()
    x = frame.drop(columns="default").to_numpy("float32")
    y = frame["default"].to_numpy()
    keras.utils.set_random_seed(0)
    scale = keras.layers.Normalization()
    scale.adapt(x)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            scale,
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=25, verbose=0)
    return frame, x, y, model


def _unit_box_model(seed: int = 1):
    """A sigmoid model on [0, 1]^4 and its explicit two-logit twin (kernel [0, w], bias [0, b])."""
    keras.utils.set_random_seed(seed)
    sigmoid = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    )
    w1, b1, w2, b2 = sigmoid.get_weights()
    twin = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    twin.set_weights(
        [w1, b1, np.concatenate([np.zeros_like(w2), w2], axis=1), np.concatenate([[0.0], b2]).astype("float32")]
    )
    x = np.random.default_rng(seed).uniform(0, 1, (64, 4)).astype("float32")
    y = (sigmoid(x).numpy()[:, 0] > 0.5).astype(int)
    y[::7] = 1 - y[::7]  # a few examples misclassified, as in real data
    return sigmoid, twin, x, y


def test_the_logits_are_zero_and_the_log_odds(credit):
    _, x, _, model = credit
    logits = as_logits(model)(x[:20]).numpy().astype(np.float64)
    p = model(x[:20]).numpy()[:, 0].astype(np.float64)
    np.testing.assert_allclose(logits[:, 0], 0.0)
    np.testing.assert_allclose(logits[:, 1], np.log(p / (1 - p)), rtol=1e-4, atol=1e-4)
    assert np.array_equal(np.argmax(logits, axis=1), (p > 0.5).astype(int))


@pytest.mark.slow
def test_attacks_and_autoattack_break_it_as_they_break_its_two_logit_twin():
    sigmoid, twin, x, y = _unit_box_model()
    for attack in (PGD(eps=0.2, steps=20, seed=0), AutoAttack(eps=0.2, version="standard", seed=0, queries=50)):
        ours, theirs = attack.run(sigmoid, x, y), attack.run(twin, x, y)
        np.testing.assert_array_equal(ours.success, theirs.success)
        predicted = (sigmoid(ours.x_adv).numpy()[:, 0] > 0.5).astype(int)  # by hand: sigmoid(z) > 1/2
        assert np.array_equal(predicted[ours.success], 1 - y[ours.success])
        assert 0 < ours.success.mean() < 1
    # labels as floats of shape (n, 1), as binary data often comes
    assert PGD(eps=0.2, steps=5).run(sigmoid, x, y.astype("float32")[:, None]).success.shape == (64,)


def test_certificates_bounds_and_proofs_are_those_of_the_twin():
    sigmoid, twin, x, y = _unit_box_model()
    ours, theirs = certify(sigmoid, x, y, sigma=0.25, n=500, seed=0), certify(twin, x, y, sigma=0.25, n=500, seed=0)
    np.testing.assert_array_equal(ours.counts, theirs.counts)
    a, b = margin_bounds(sigmoid, x, y, 0.05), margin_bounds(twin, x, y, 0.05)
    np.testing.assert_allclose(a.lower, b.lower, rtol=1e-4, atol=1e-5)
    assert 0 < a.verified.mean() < 1
    exact_a, exact_b = exact_verify(sigmoid, x[:16], y[:16], 0.1), exact_verify(twin, x[:16], y[:16], 0.1)
    np.testing.assert_array_equal(exact_a.status, exact_b.status)
    assert "broken" in exact_a.status and "verified" in exact_a.status


def test_corruptions_and_training_read_it_as_two_classes():
    from robustkit.evaluation.context import predict_labels

    sigmoid, _, _, _ = _unit_box_model()
    images = np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 1)).astype("float32")
    keras.utils.set_random_seed(2)
    image_model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")]
    )
    predicted = predict_labels(image_model, corrupt(images, "gaussian_noise", 3), 4)
    by_hand = (image_model(corrupt(images, "gaussian_noise", 3)).numpy()[:, 0] > 0.5).astype(int)
    np.testing.assert_array_equal(predicted, by_hand)
    trainer = AdversarialTrainer(sigmoid, eps=0.1, steps=3)
    trainer.compile("adam")
    x = np.random.default_rng(1).uniform(0, 1, (64, 4)).astype("float32")
    history = trainer.fit(x, (x.sum(axis=1) > 2).astype("float32"), epochs=2, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.slow
def test_a_sigmoid_credit_model_through_the_command_line(credit, tmp_path, capsys):
    frame, _, _, model = credit
    frame.to_csv(tmp_path / "credit.csv", index=False)
    model.save(tmp_path / "credit.keras")
    data = f"{tmp_path / 'credit.csv'}?label=default"
    common = ["--model", str(tmp_path / "credit.keras"), "--data", data]
    assert main(["bench", *common, "--attack", "linf", "--eps-scale", "std", "--eps", "0.1", "0.25", "--limit", "120",
                 "--out", str(tmp_path / "bench")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "binary classifier with the two logits [0, z]" in err
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    clean = results["models"][next(iter(results["models"]))]["clean_accuracy"]
    by_hand = np.mean(
        (model(frame.drop(columns="default").to_numpy("float32")[:120]).numpy()[:, 0] > 0.5) == frame["default"][:120]
    )
    assert clean == pytest.approx(by_hand)
    assert (
        main(["attack", *common, "--eps", "0.25", "--eps-scale", "std", "-q", "--out", str(tmp_path / "adv.npz")]) == 0
    )
    gate = ["gate", *common, "--attack", "linf", "--eps-scale", "std", "--eps", "0.1", "--limit", "120"]
    assert (
        main([*gate, "--no-baseline", "--quiet", "--min-robust-accuracy", "linf:0.1=0.3", "--out", str(tmp_path / "g")])
        == 0
    )

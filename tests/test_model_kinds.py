"""Models people have: Keras applications at real sizes, several outputs, mixed precision, SavedModel signatures."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.attacks import APGD, PGD
from robustkit.cli import main
from robustkit.errors import ModelError
from robustkit.logits import as_logits
from robustkit.sources.models import load_model, model_label


def _inside(x, x_adv, eps, norm, low, high):
    delta = (x_adv - x).reshape(len(x), -1)
    size = {"linf": np.abs(delta).max(axis=1), "l2": np.linalg.norm(delta, axis=1)}[norm]
    assert np.all(size <= eps * (1 + 1e-6) + 1e-6), size.max()
    assert np.all(x_adv >= low) and np.all(x_adv <= high) and np.all(np.isfinite(x_adv))


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec, size",
    [
        ("keras-app:MobileNetV3Small?weights=none&size=224x224&classes=5", 224),  # rescales [0, 255] itself
        ("keras-app:MobileNetV2?weights=none&size=96x96&classes=5", 96),  # gets its preprocess_input as a layer
    ],
)
def test_keras_applications_are_attacked_in_pixel_space(spec, size, tmp_path):
    model = load_model(spec)
    assert model.input_shape == (None, size, size, 3)
    x = np.random.default_rng(0).uniform(0, 255, (3, size, size, 3)).astype("float32")
    y = np.argmax(as_logits(model)(tf.constant(x)).numpy(), axis=1)
    result = PGD(eps=8.0, steps=2, step_size=2.0, bounds=(0, 255), seed=0).run(model, x, y)
    _inside(x, result.x_adv.numpy(), 8.0, "linf", 0, 255)
    assert float(np.abs(result.x_adv.numpy() - x).max()) > 1.0  # the steps moved in pixel units
    if "MobileNetV2" in spec:  # the preprocessing layer survives saving, as users keep such models
        model.save(tmp_path / "app.keras")
        again = load_model(str(tmp_path / "app.keras"))
        np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_an_unknown_application_is_a_clear_error():
    with pytest.raises(ModelError, match="keras.applications has no model 'NoSuchNet'"):
        load_model("keras-app:NoSuchNet?weights=none")


@pytest.fixture(scope="module")
def two_output_model(tmp_path_factory, digits_cnn):
    inputs = keras.Input((8, 8, 1))
    logits = keras.layers.Identity(name="logits")(digits_cnn(inputs))
    aux = keras.layers.Dense(1, name="confidence")(logits)
    path = tmp_path_factory.mktemp("outputs") / "two.keras"
    keras.Model(inputs, {"logits": logits, "confidence": aux}).save(path)
    return path


@pytest.mark.slow
def test_the_logits_output_is_chosen_by_name(two_output_model, tmp_path, capsys):
    common = ["bench", "--model", str(two_output_model), "--attack", "linf", "--eps", "0.1", "--limit", "40", "-q"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 2
    assert "--output NAME" in capsys.readouterr().err.replace("\n", "")
    assert main([*common, "--output", "nope", "--out", str(tmp_path / "b")]) == 2
    assert "no output named 'nope'" in capsys.readouterr().err
    assert main([*common, "--output", "logits", "--out", str(tmp_path / "c")]) == 0
    results = json.loads((tmp_path / "c" / "results.json").read_text())
    assert list(results["models"]) == ["two-logits"] and results["models"]["two-logits"]["clean_accuracy"] > 0.8
    assert model_label(f"{two_output_model}?output=logits") == "two-logits"


def test_savedmodel_signatures_are_chosen_by_name(tmp_path, digits_cnn, digits):
    class Exported(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32)])
        def probabilities(self, x):
            return {"probabilities": tf.nn.softmax(self.model(x))}

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32)])
        def scores(self, x):
            return {"logits": self.model(x), "embedding_norm": tf.norm(self.model(x), axis=1)}

    module = Exported(digits_cnn)
    signatures = {"serving_default": module.probabilities, "scores": module.scores}
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=signatures)
    x = digits.x_test[:16]
    chosen = load_model(f"{tmp_path / 'sm'}?signature=scores&output=logits")
    np.testing.assert_allclose(chosen(tf.constant(x)).numpy(), digits_cnn(x).numpy(), rtol=1e-5, atol=1e-5)
    default = load_model(str(tmp_path / "sm"))
    np.testing.assert_allclose(default(tf.constant(x)).numpy(), tf.nn.softmax(digits_cnn(x)).numpy(), atol=1e-6)
    with pytest.raises(ModelError, match="several outputs"):
        load_model(f"{tmp_path / 'sm'}?signature=scores")(tf.constant(x))
    with pytest.raises(ModelError):
        load_model(f"{tmp_path / 'sm'}?signature=nope")


_MIXED: dict[str, keras.Model] = {}


def _mixed_model(policy: str, digits) -> keras.Model:
    """A small CNN trained under a mixed-precision policy (its layers compute in 16 bits)."""
    if policy not in _MIXED:
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(policy)
        try:
            keras.utils.set_random_seed(0)
            model = keras.Sequential(
                [
                    keras.Input((8, 8, 1)),
                    keras.layers.Conv2D(8, 3, activation="relu"),
                    keras.layers.Flatten(),
                    keras.layers.Dense(10),
                ]
            )
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(digits.x_train, digits.y_train, epochs=4, batch_size=64, verbose=0)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        assert model.layers[-1].compute_dtype == policy.split("_")[1]
        _MIXED[policy] = model
    return _MIXED[policy]


@pytest.mark.slow
@settings(max_examples=8)
@given(
    policy=st.sampled_from(["mixed_bfloat16", "mixed_float16"]),
    norm=st.sampled_from(["linf", "l2"]),
    eps=st.floats(0.0, 1.0),
    attack=st.sampled_from(["pgd", "apgd"]),
    seed=st.integers(0, 3),
)
def test_mixed_precision_models_keep_every_guarantee(digits, policy, norm, eps, attack, seed):
    model = _mixed_model(policy, digits)
    x, y = digits.x_test[:24], digits.y_test[:24]
    make = PGD if attack == "pgd" else APGD
    result = make(eps=eps, norm=norm, steps=5, seed=seed).run(model, x, y)
    assert result.x_adv.dtype == tf.float32  # steps computed in float32, not in the model's 16 bits
    _inside(x, result.x_adv.numpy(), eps, norm, 0.0, 1.0)
    again = make(eps=eps, norm=norm, steps=5, seed=seed).run(model, x, y)
    np.testing.assert_array_equal(result.x_adv.numpy(), again.x_adv.numpy())


def test_mixed_precision_attacks_find_what_float32_finds(digits):
    """Logits cast to float32 before the loss: the 16-bit model is attacked as well as its float32 twin."""
    model = _mixed_model("mixed_bfloat16", digits)
    twin = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    twin.set_weights(model.get_weights())  # mixed precision keeps float32 variables
    x, y = digits.x_test[:200], digits.y_test[:200]
    mixed = PGD(eps=0.05, steps=10, seed=0).run(model, x, y)
    full = PGD(eps=0.05, steps=10, seed=0).run(twin, x, y)
    assert mixed.clean_accuracy > 0.8 and mixed.robust_accuracy < mixed.clean_accuracy - 0.1
    assert abs(mixed.robust_accuracy - full.robust_accuracy) <= 0.03

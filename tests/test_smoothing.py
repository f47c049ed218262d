"""Randomized smoothing: certificates against the exact radius of a linear model, the reference
formula, and the same counts for any batch size and any cut of the data (bit for bit)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from robustkit.certify import ABSTAIN, certify, predict, radius_from_counts, sample_counts
from robustkit.errors import ConfigError, InputError

SIGMA = 0.25


def _linear(dim: int, seed: int):
    """A Dense(2) binary classifier and its exact distance to the boundary (the smoothed model's true radius)."""
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(dim, 2)).astype("float32"), rng.normal(size=2).astype("float32")
    model = keras.Sequential([keras.Input((dim,)), keras.layers.Dense(2)])
    model.set_weights([w, b])
    direction = (w[:, 1] - w[:, 0]).astype(np.float64)

    def true_radius(x):
        return np.abs(x.astype(np.float64) @ direction + float(b[1] - b[0])) / np.linalg.norm(direction)

    return model, direction, float(b[1] - b[0]), true_radius


def test_the_certified_radius_of_a_linear_model_is_sound_and_close_to_the_truth():
    model, direction, offset, true_radius = _linear(4, 0)
    rng = np.random.default_rng(1)
    # Points whose true radius spreads over 0.5 to 3 sigma, on both sides of the boundary.
    wanted = rng.uniform(0.5, 3.0, 120) * SIGMA * rng.choice([-1, 1], 120)
    base = rng.normal(size=(120, 4))
    unit = direction / np.linalg.norm(direction)
    on_boundary = base - np.outer(base @ unit + offset / np.linalg.norm(direction), unit)
    x = (on_boundary + np.outer(wanted, unit)).astype("float32")
    truth = true_radius(x)
    result = certify(model, x, sigma=SIGMA, n0=100, n=100_000, alpha=0.001, seed=0, batch_size=20_000)
    side = (x.astype(np.float64) @ direction + offset > 0).astype(int)  # the class the smoothed model gives
    assert np.all(result.prediction == side)
    # Sound: a certificate above the truth happens with probability <= alpha (0.12 expected in 120 here).
    assert np.sum(result.radius > truth) <= 1
    # Tight: with n = 100,000 the confidence bound costs a few percent between 0.5 and 3 sigma.
    assert np.all(result.radius >= 0.95 * truth), np.min(result.radius / truth)


def test_given_the_counts_the_radius_is_the_reference_formula():
    n, alpha = 100_000, 0.001
    counts = np.array([50_001, 69_150, 84_130, 97_720, 99_865, 100_000])
    p_lower, radius = radius_from_counts(counts, n, SIGMA, alpha)
    reference_p = special.betaincinv(counts, n - counts + 1, alpha)  # Clopper-Pearson's one-sided lower end
    reference_radius = np.where(reference_p >= 0.5, SIGMA * special.ndtri(reference_p), 0.0)
    np.testing.assert_allclose(p_lower, reference_p, rtol=1e-12)
    np.testing.assert_allclose(radius, reference_radius, rtol=1e-12, atol=0)
    assert radius[0] == 0.0 and radius[-1] > radius[-2] > radius[1] > 0


@pytest.fixture(scope="module")
def few_digits(digits):
    return digits.x_test[:7].astype("float32")


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 300), cut=st.integers(1, 6))
def test_the_counts_do_not_depend_on_the_batch_size_or_the_cut(digits_mlp, few_digits, batch, cut):
    whole = sample_counts(digits_mlp, few_digits, 0.5, 60, seed=3, batch_size=97)
    first = sample_counts(digits_mlp, few_digits[:cut], 0.5, 60, seed=3, batch_size=batch)
    rest = sample_counts(digits_mlp, few_digits[cut:], 0.5, 60, seed=3, batch_size=batch, index=np.arange(cut, 7))
    assert np.array_equal(np.concatenate([first, rest]), whole)
    assert np.all(whole.sum(axis=1) == 60)
    other_seed = sample_counts(digits_mlp, few_digits, 0.5, 60, seed=4, batch_size=97)
    assert not np.array_equal(other_seed, whole)  # the noise really is keyed by the seed


def test_predict_abstains_where_the_top_two_classes_are_close_and_agrees_elsewhere():
    model, direction, offset, _ = _linear(2, 3)
    unit = direction / np.linalg.norm(direction)
    foot = -offset / np.linalg.norm(direction) * unit
    x = np.stack([foot, foot + unit * 1.0, foot - unit * 1.0]).astype("float32")
    smoothed = predict(model, x, sigma=SIGMA, n=2000, alpha=0.001, seed=0)
    assert smoothed.tolist() == [ABSTAIN, 1, 0]
    certified = certify(model, x, sigma=SIGMA, n=2000, seed=0)
    assert certified.prediction.tolist() == [ABSTAIN, 1, 0] and certified.radius[0] == 0.0
    assert certified.certified_accuracy([0, 1, 0], 0.5) == pytest.approx(2 / 3)
    assert np.allclose(certified.radius_linf, certified.radius / np.sqrt(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(sigma=0.0), ConfigError, "sigma must be a number > 0"),
        (dict(alpha=1.0), ConfigError, r"alpha must be a number in \(0, 1\)"),
        (dict(n0=0), ConfigError, "n0 must be an integer >= 1"),
        (dict(n=2.5), ConfigError, "n must be an integer >= 1"),
        (dict(y=[0, 1, 2]), InputError, "y has 3 labels but x has 2 examples"),
    ],
)
def test_bad_settings_say_what_to_fix(kwargs, error, message):
    model, *_ = _linear(2, 0)
    with pytest.raises(error, match=message):
        certify(model, np.zeros((2, 2), "float32"), **kwargs)
    with pytest.raises(InputError, match="NaN"):
        certify(model, np.full((2, 2), np.nan, "float32"))


def test_the_certify_command_prints_the_table_and_writes_every_example(tmp_path, capsys):
    from robustkit.cli import main

    out = tmp_path / "certified.npz"
    args = ["certify", "--model", "digits-mlp", "--sigma", "0.25", "0.5", "--n0", "20", "--n", "300", "--limit", "12"]
    assert main([*args, "--radius", "0", "0.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "certified accuracy" in printed and "r=0.5" in printed and "0.25" in printed
    with np.load(out) as saved:
        assert saved["sigma=0.25/counts"].shape == (12, 10) and np.all(saved["sigma=0.5/counts"].sum(axis=1) == 300)
        assert np.all((saved["sigma=0.25/radius"] == 0) == (saved["sigma=0.25/prediction"] == ABSTAIN))
    assert main([*args, "--alpha", "2"]) == 2
    assert "alpha must be a number in (0, 1)" in capsys.readouterr().err


def test_noise_training_makes_the_smoothed_model_certify_more(digits, digits_cnn, zoo_cache):
    from robustkit.sources.zoo import load_zoo_model

    x, y = digits.x_test[:60], digits.y_test[:60]
    noisy_model = load_zoo_model("digits-cnn-noise")  # trained on first use with NoiseTrainer, sigma 0.25
    plain = certify(digits_cnn, x, y, 0.5, n0=50, n=1000, seed=0)
    noisy = certify(noisy_model, x, y, 0.5, n0=50, n=1000, seed=0)
    assert noisy.certified_accuracy(y, 0.25) >= plain.certified_accuracy(y, 0.25) + 0.1
    assert np.mean(noisy.abstained) < np.mean(plain.abstained)


@pytest.mark.slow
def test_an_attack_never_breaks_a_certified_example_and_the_check_fails_on_an_inflated_certificate(digits):
    from dataclasses import replace

    from robustkit.certify.attack_check import attack_certificates
    from robustkit.sources.zoo import load_zoo_model

    model = load_zoo_model("digits-cnn-noise")
    x = digits.x_test[:24]
    result = certify(model, x, sigma=0.25, n0=50, n=2000, seed=0)
    honest = attack_certificates(model, x, result, steps=10, samples=8, n=2000, seed=0)
    assert honest.checked >= 20 and honest.passed
    # Certificates five times too large: the attack inside them does change the smoothed class.
    inflated = replace(result, radius=result.radius * 5)
    caught = attack_certificates(model, x, inflated, steps=10, samples=8, n=2000, seed=0)
    assert caught.contradictions >= 3 and not caught.passed


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("offset", [0.0, 1e2, 1e4, 1e6, 1e9])
@settings(max_examples=3, deadline=None)
@given(scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_certificates_hold_at_any_magnitude_and_in_every_float_dtype_or_are_refused(dtype, offset, scale):
    """A linear model far from the origin, in every dtype: each certificate is at most the true radius,
    or certify refuses inputs so large for their dtype that rounding would flatten the noise."""
    model, direction, bias, true_radius = _linear(3, 5)
    unit = direction / np.linalg.norm(direction)
    rng = np.random.default_rng(int(offset) % 97)
    # Points at distances 0.2 to 2 sigma from the boundary, moved far along it (the radius does not change).
    sigma = 0.25 * scale
    along = np.full(3, offset) - np.full(3, offset) @ unit * unit  # parallel to the boundary
    foot = -bias / np.linalg.norm(direction) * unit + along
    x64 = foot + np.outer(rng.uniform(0.2, 2.0, 10) * sigma * rng.choice([-1, 1], 10), unit)
    model.set_weights([w / scale for w in model.get_weights()])  # the same boundary, logits scaled
    x = x64.astype(dtype) if dtype != "bfloat16" else tf_bfloat16(x64)
    try:
        result = certify(model, x, sigma=sigma, n0=50, n=2000, alpha=1e-4, seed=0)
    except InputError as err:  # too large for the dtype: the noise would round away, or the inputs overflow
        assert "rounded" in str(err) or "NaN or Inf" in str(err)
        return
    truth = true_radius(np.asarray(tf_float64(x)))
    assert np.all(np.isfinite(result.radius)) and np.all(result.radius >= 0)
    assert np.all(result.radius <= truth * (1 + 1e-6) + 1e-12), (result.radius, truth)


def tf_bfloat16(values):
    import tensorflow as tf

    return tf.constant(values, tf.bfloat16)


def tf_float64(values):
    import tensorflow as tf

    return tf.cast(tf.convert_to_tensor(values), tf.float64).numpy()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), first=st.integers(0, 2**40), stream=st.integers(0, 2**31 - 1))
def test_the_smoothing_noise_hashes_on_uint32_to_the_same_bits(seed, first, stream):
    """The noise's fast paths (uint32 lanes, and the same fused by XLA) draw exactly the keyed uniforms and
    keys every other draw uses."""
    import tensorflow as tf

    from robustkit.certify.smoothing import _sample_keys
    from robustkit.row_random import _uniform_pair32, example_keys, mix_keys, row_uniform, row_uniform32

    keys = example_keys(seed, np.arange(first, first + 40, 3))
    assert np.array_equal(row_uniform32(keys, stream, 33).numpy(), row_uniform(keys, stream, 33).numpy())
    u, v = _uniform_pair32(keys, tf.constant(stream, tf.int64), 33)
    assert np.array_equal(u.numpy(), row_uniform(keys, stream, 33).numpy())
    assert np.array_equal(v.numpy(), row_uniform(mix_keys(keys, stream), 0x7F4A7C15, 33).numpy())
    rows = tf.constant(np.arange(0, 14 * 7, 5), tf.int64)
    example, row_keys = _sample_keys(keys, rows, tf.constant(7, tf.int64))
    assert np.array_equal(example.numpy(), rows.numpy() // 7)
    assert np.array_equal(row_keys.numpy(), mix_keys(tf.gather(keys, rows // 7), rows % 7).numpy())


def test_the_certify_command_names_the_smoothed_accuracy_takes_bounds_and_warns_of_drowning_noise(
    tmp_path, capsys, digits
):
    from robustkit.cli import main

    np.savez(tmp_path / "pixels.npz", x=digits.x_test[:10] * 255, y=digits.y_test[:10])
    args = ["certify", "--model", "digits-mlp", "--n0", "20", "--n", "100", "--limit", "10"]
    assert main([*args, "--sigma", "25"]) == 0
    captured = capsys.readouterr()
    assert "sigma 25 is larger than the inputs' whole range (1 wide)" in captured.err.replace("\n", " ")
    assert "smoothed" in captured.out and "clean" not in captured.out
    assert main([*args, "--data", str(tmp_path / "pixels.npz"), "--sigma", "60"]) == 2
    assert "--bounds LOW HIGH" in capsys.readouterr().err.replace("\n", " ")
    assert main([*args, "--data", str(tmp_path / "pixels.npz"), "--bounds", "0", "255", "--sigma", "60"]) == 0
    assert "larger than the inputs' whole range" not in capsys.readouterr().err

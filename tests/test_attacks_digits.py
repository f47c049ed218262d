"""Attack strength and behaviour on a small CNN trained on the digits data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from robustkit.attacks import FGSM, PGD
from robustkit.attacks.compiled import evaluation_at_x, run_validated
from robustkit.gradients import trace_count
from robustkit.row_random import example_keys


def test_pgd_is_per_example_at_least_as_successful_as_fgsm(digits, digits_cnn):
    x, y = digits.x_test, digits.y_test
    for eps in (0.05, 0.1, 0.2):
        fgsm = FGSM(eps=eps).run(digits_cnn, x, y)
        pgd = PGD(eps=eps, steps=20, step_size=eps / 4, random_start=False).run(digits_cnn, x, y)
        assert not np.any(fgsm.success & ~pgd.success), f"eps={eps}: FGSM broke examples PGD did not"
        default_pgd = PGD(eps=eps, seed=0).run(digits_cnn, x, y)
        assert default_pgd.success.sum() >= fgsm.success.sum()
    assert pgd.success.sum() > fgsm.success.sum()


def test_the_last_iterate_counts(digits, digits_cnn):
    """The last step's point has no gradient pass of its own; it must still be scored and kept."""
    x, y = digits.x_test, digits.y_test
    fgsm = FGSM(eps=0.1).run(digits_cnn, x, y)
    one_step = PGD(eps=0.1, steps=1, step_size=0.1, random_start=False).run(digits_cnn, x, y)
    np.testing.assert_array_equal(one_step.success, fgsm.success)  # x_1 is FGSM's point
    assert 0 < fgsm.success.sum() < len(y)
    broken = fgsm.success & (fgsm.clean_pred == y)  # misclassified ones keep x_0, also a success
    np.testing.assert_allclose(one_step.x_adv.numpy()[broken], fgsm.x_adv.numpy()[broken], atol=1e-6)
    np.testing.assert_array_equal(one_step.adv_pred[broken], fgsm.adv_pred[broken])
    # Without a random start, k + 1 steps visit every iterate of k steps (same step size) and one
    # more, so per example they break a superset, down to the last iterate.
    runs = [PGD(eps=0.1, steps=k, step_size=0.02, random_start=False).run(digits_cnn, x, y) for k in (1, 2, 3, 4)]
    for fewer, more in zip(runs, runs[1:]):
        assert not np.any(fewer.success & ~more.success)
    assert runs[-1].success.sum() > runs[0].success.sum()


@pytest.mark.slow
@pytest.mark.parametrize("early_stop", [False, True])
def test_a_given_first_evaluation_at_x_changes_nothing_but_the_work(digits, digits_cnn, early_stop):
    from robustkit.errors import ConfigError
    from robustkit.logits import as_logits

    x, y = tf.constant(digits.x_test), tf.constant(digits.y_test, tf.int32)
    view = as_logits(digits_cnn, x_sample=x[:8])
    seed = example_keys(0, tf.range(len(y)))
    for attack in (
        PGD(eps=0.1, steps=12, random_start=False, early_stop=early_stop),
        PGD(eps=1.0, steps=5, norm="l2", random_start=False, early_stop=early_stop),
        FGSM(eps=0.1, early_stop=early_stop),
    ):
        plain = run_validated(attack, view, x, y, None, seed)
        reused = run_validated(attack, view, x, y, None, seed, first=evaluation_at_x(attack, view, x, y))
        # Equal up to the last bit of float32: the L2 step's normalisation may round differently when the
        # batch it is computed in has another size (TensorFlow's CPU kernels block by batch size).
        np.testing.assert_allclose(reused.x_adv.numpy(), plain.x_adv.numpy(), rtol=0, atol=2e-6)
        np.testing.assert_array_equal(reused.success, plain.success)
        np.testing.assert_array_equal(reused.adv_pred, plain.adv_pred)
        np.testing.assert_array_equal(reused.grad_evals, np.maximum(plain.grad_evals - 1, 0))
        assert 0 < plain.success.sum() < len(y)
    with pytest.raises(ConfigError, match="random start"):
        run_validated(PGD(eps=0.1, seed=0), view, x, y, None, seed, first=evaluation_at_x(attack, view, x, y))


def test_robust_accuracy_at_a_huge_linf_eps_is_at_most_chance(digits, digits_cnn):
    result = PGD(eps=0.5, steps=20, seed=0).run(digits_cnn, digits.x_test, digits.y_test)
    assert result.clean_accuracy > 0.9
    assert result.robust_accuracy <= 0.1


@pytest.mark.slow
def test_restarts_never_reduce_success(digits, digits_cnn):
    x, y = digits.x_test, digits.y_test
    one = PGD(eps=0.1, steps=5, seed=3).run(digits_cnn, x, y)
    three = PGD(eps=0.1, steps=5, restarts=3, seed=3).run(digits_cnn, x, y)
    assert not np.any(one.success & ~three.success)
    assert three.success.sum() >= one.success.sum()
    assert np.all(three.grad_evals == 15)
    # Best-point keeping: where both fail, the restarts' objective is no lower.
    both_fail = ~one.success & ~three.success
    assert np.all(three.loss[both_fail] >= one.loss[both_fail] - 1e-5)


@pytest.mark.slow
def test_targeted_pgd_reaches_its_targets(digits, digits_cnn):
    x, y = digits.x_test[:200], digits.y_test[:200]
    targets = (y + 3) % 10
    result = PGD(eps=0.4, steps=40, targeted=True, seed=0).run(digits_cnn, x, y, target=targets)
    np.testing.assert_array_equal(result.targets, targets)
    assert np.mean(result.adv_pred == targets) > 0.9
    np.testing.assert_array_equal(result.success, result.adv_pred == targets)
    for mode in ("random", "least_likely"):
        chosen = PGD(eps=0.4, steps=40, target=mode, loss="margin", seed=0).run(digits_cnn, x, y)
        assert np.all(chosen.targets != y)
        assert chosen.success.mean() > 0.9


def test_softmax_model_and_its_logits_twin_agree(digits, digits_cnn):
    soft = keras.Sequential([digits_cnn, keras.layers.Softmax()])
    soft_direct = keras.Model(digits_cnn.inputs, keras.layers.Activation("softmax")(digits_cnn.outputs[0]))
    x, y = digits.x_test, digits.y_test
    base = PGD(eps=0.1, seed=0).run(digits_cnn, x, y)
    for model in (soft, soft_direct):
        with pytest.warns(Warning, match="softmax"):
            twin = PGD(eps=0.1, seed=0).run(model, x, y)
        assert twin.robust_accuracy == pytest.approx(base.robust_accuracy, abs=1 / len(y))


def test_early_stopping_keeps_answers_and_saves_work(digits, digits_cnn):
    x, y = digits.x_test, digits.y_test
    fixed = PGD(eps=0.1, steps=20, random_start=False).run(digits_cnn, x, y)
    early = PGD(eps=0.1, steps=20, random_start=False, early_stop=True).run(digits_cnn, x, y)
    assert early.success.sum() == pytest.approx(fixed.success.sum(), abs=2)
    assert early.total_grad_evals < 0.8 * fixed.total_grad_evals
    assert np.all(early.grad_evals[~early.success] == 20)
    assert np.all(early.grad_evals <= 20)
    # Misclassified clean examples stop after their first gradient evaluation.
    wrong = early.clean_pred != y
    assert np.all(early.grad_evals[wrong] == 1)


def test_batches_and_datasets_give_the_same_result(digits, digits_cnn):
    x, y = digits.x_test[:100], digits.y_test[:100]
    whole = PGD(eps=0.1, steps=5, random_start=False, batch_size=256).run(digits_cnn, x, y)
    parts = PGD(eps=0.1, steps=5, random_start=False, batch_size=32).run(digits_cnn, x, y)
    np.testing.assert_allclose(whole.x_adv.numpy(), parts.x_adv.numpy(), atol=1e-6)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(40)
    streamed = PGD(eps=0.1, steps=5, random_start=False, batch_size=32).run(digits_cnn, dataset)
    np.testing.assert_allclose(streamed.x_adv.numpy(), whole.x_adv.numpy(), atol=1e-6)
    assert [len(r) for r in PGD(eps=0.1, steps=2, batch_size=32).generate(digits_cnn, x, y)] == [32, 32, 32, 4]


def test_repeated_calls_do_not_retrace(digits, digits_cnn):
    x, y = digits.x_test, digits.y_test
    attack = PGD(eps=0.1, steps=3, seed=0, batch_size=128)
    attack.run(digits_cnn, x, y)  # batches of 128, 128 and 104 share one trace
    before = trace_count()
    attack.run(digits_cnn, x[:50], y[:50])
    PGD(eps=0.2, steps=3, seed=1, batch_size=128)(digits_cnn, x, y)  # another eps and seed
    assert trace_count() == before


def test_per_channel_bounds(digits_cnn):
    rng = np.random.default_rng(0)
    lower = np.array([0.2])
    upper = np.array([0.6])
    x = rng.uniform(0.2, 0.6, (20, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, 20)
    x_adv = PGD(eps=0.3, steps=5, bounds=(lower, upper), seed=0)(digits_cnn, x, y).numpy()
    assert x_adv.min() >= 0.2 - 1e-6 and x_adv.max() <= 0.6 + 1e-6


def test_dropout_is_off_during_attacks(digits):
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(10)]
    )
    x, y = digits.x_test[:20], digits.y_test[:20]
    a = PGD(eps=0.1, steps=5, seed=0)(model, x, y).numpy()
    b = PGD(eps=0.1, steps=5, seed=0)(model, x, y).numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_dtype_is_kept(digits, digits_cnn, dtype):
    x = digits.x_test[:10].astype(dtype)
    x_adv = PGD(eps=0.1, steps=3, seed=0)(digits_cnn, x, digits.y_test[:10])
    assert x_adv.dtype == tf.as_dtype(dtype) and x_adv.shape == x.shape
    slack = 1e-3 if dtype == "float16" else 1e-6  # float16 resolves about 5e-4 near 1
    assert np.abs(x_adv.numpy().astype(np.float64) - x.astype(np.float64)).max() <= 0.1 + slack


def test_jit_compile_gives_the_same_answer(digits, digits_cnn):
    x, y = digits.x_test[:64], digits.y_test[:64]
    plain = PGD(eps=0.1, steps=5, random_start=False, early_stop=True).run(digits_cnn, x, y)
    xla = PGD(eps=0.1, steps=5, random_start=False, early_stop=True, jit_compile=True).run(digits_cnn, x, y)
    assert np.sum(plain.success != xla.success) <= 1
    np.testing.assert_array_equal(
        plain.grad_evals[plain.success == xla.success], xla.grad_evals[plain.success == xla.success]
    )


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_l2_and_l1_attacks_break_the_cnn(digits, digits_cnn, norm):
    eps = {"l2": 2.0, "l1": 8.0}[norm]
    result = PGD(eps=eps, steps=40, norm=norm, seed=0).run(digits_cnn, digits.x_test, digits.y_test)
    assert result.robust_accuracy < 0.3
    fgm = FGSM(eps=eps, norm=norm).run(digits_cnn, digits.x_test, digits.y_test)
    assert result.success.sum() >= fgm.success.sum()

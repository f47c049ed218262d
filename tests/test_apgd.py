"""APGD: its checkpoint schedule and step halving, pinned by hand, and its strength on digits."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from robustkit.attacks import APGD, APGDT, PGD
from robustkit.attacks.apgd import APGDRule
from robustkit.attacks.apgd_schedule import checkpoints, interval_table
from robustkit.attacks.loop import LoopConfig, Problem
from robustkit.errors import ConfigError, RobustkitWarning
from robustkit.logits import as_logits
from robustkit.norms import get_norm
from robustkit.row_random import example_keys


def test_checkpoints_follow_the_published_fractions():
    # p_0 = 0, p_1 = 0.22, p_(j+1) = p_j + max(p_j - p_(j-1) - 0.03, 0.06): 0.22, 0.41, 0.57, 0.70,
    # 0.80, 0.87, 0.93, 0.99 of the run.
    assert list(checkpoints(100)) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert list(checkpoints(1000)) == [220, 410, 570, 700, 800, 870, 930, 990]
    # Short runs: every interval is at least one step.
    assert checkpoints(10) == {2: 2, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 10: 1}
    assert interval_table(5) == [0, 1, 1, 1, 1] and checkpoints(1) == {1: 1}


def _corner_problem(steps: int):
    """A linear two-class model whose loss grows towards the box corner (0, 0) and is flat there."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
    model.layers[0].set_weights([np.array([[1.0, -1.0], [1.0, -1.0]], "float32")])
    x = tf.constant([[0.5, 0.5]], tf.float32)
    cfg = LoopConfig(get_norm("linf"), "ce", False, steps)
    problem = Problem(as_logits(model), cfg, x, 1.0, 2.0, example_keys(0, [0]), np.float64(0), np.float64(1))
    return problem, x, tf.constant([0])


def test_the_step_halves_at_every_checkpoint_once_the_loss_stops_rising():
    steps = 10
    problem, x, labels = _corner_problem(steps)
    rule, rows = APGDRule(steps), problem.rows(x, labels)
    state = rule.init(problem, x, tf.constant(0))
    etas = []
    for _ in range(steps):
        state = rule.step(problem, state, problem.gradient_at(state.x, labels), rows)
        etas.append(float(state.eta[0]))
    # The first step (eta = 2 eps) reaches the corner, where the loss is flat. Checkpoints come at
    # steps 2, 3, ..., 9; at step 2 the loss rose in 1 of 2 steps (<= 0.75 * 2), at each later one
    # in 0 of 1: every checkpoint halves the step.
    assert etas == [2.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125]
    np.testing.assert_array_equal(state.x.numpy(), [[0.0, 0.0]])
    assert bool(state.halved_at_check[0])


def test_a_step_that_keeps_improving_is_not_halved():
    # Small steps inside a large ball on the (linear, never saturating) margin loss: it rises at
    # every step, so no checkpoint halves the step.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
    model.layers[0].set_weights([np.array([[1.0, -1.0], [1.0, -1.0]], "float32")])
    x = tf.constant([[0.0, 0.0]], tf.float32)
    steps = 10
    cfg = LoopConfig(get_norm("linf"), "margin", False, steps)
    problem = Problem(as_logits(model), cfg, x, 10.0, 0.1, example_keys(0, [0]), np.float64(-1e3), np.float64(1e3))
    rule, labels = APGDRule(steps), tf.constant([0])
    state = rule.init(problem, x, tf.constant(0))
    for _ in range(steps):
        state = rule.step(problem, state, problem.gradient_at(state.x, labels), problem.rows(x, labels))
    assert float(state.eta[0]) == pytest.approx(0.1)


def test_apgd_ce_is_no_weaker_than_pgd_with_the_same_budget(digits, digits_cnn):
    x, y = digits.x_test[:180], digits.y_test[:180]
    pgd = PGD(eps=0.1, steps=20, seed=0).run(digits_cnn, x, y)
    apgd = APGD(eps=0.1, steps=20, seed=0).run(digits_cnn, x, y)
    assert apgd.robust_accuracy <= pgd.robust_accuracy
    assert 0.2 < apgd.robust_accuracy < pgd.clean_accuracy
    assert apgd.total_grad_evals == pgd.total_grad_evals == 20 * len(y)


@pytest.mark.slow
def test_early_stopping_changes_the_work_not_the_answer(digits, digits_cnn):
    x, y = digits.x_test[:120], digits.y_test[:120]
    fixed = APGD(eps=0.1, steps=15, seed=3, loss="dlr").run(digits_cnn, x, y)
    early = APGD(eps=0.1, steps=15, seed=3, loss="dlr", early_stop=True).run(digits_cnn, x, y)
    np.testing.assert_array_equal(fixed.success, early.success)
    assert early.total_grad_evals < fixed.total_grad_evals


@pytest.mark.parametrize("rho", [0, 1.5, True, "0.5"])
def test_bad_rho_is_refused(rho):
    with pytest.raises(ConfigError, match="rho must be a number in"):
        APGD(eps=0.1, rho=rho)


def test_apgd_t_runs_each_target_on_the_survivors_only(digits, digits_cnn):
    x, y = digits.x_test[:120], digits.y_test[:120]
    steps, n_targets = 8, 3
    result = APGDT(eps=0.1, steps=steps, n_targets=n_targets, seed=0).run(digits_cnn, x, y)
    first_run = APGDT(eps=0.1, steps=steps, n_targets=1, seed=0).run(digits_cnn, x, y)
    # The first target's run is the same in both; broken there, an example is not attacked again.
    broken_first = first_run.success
    np.testing.assert_array_equal(result.grad_evals[broken_first], steps)
    np.testing.assert_array_equal(result.success[broken_first], True)
    # The others get up to n_targets runs; those never broken get exactly that many.
    never = ~result.success
    assert never.any() and (result.success & ~broken_first).any()
    np.testing.assert_array_equal(result.grad_evals[never], steps * n_targets)
    assert set(np.unique(result.grad_evals)) <= {steps * k for k in range(1, n_targets + 1)}


def test_apgd_t_below_four_classes_steers_with_the_margin_and_caps_its_targets():
    """Targeted DLR needs a fourth logit: on 3 classes APGD-T says so and climbs the targeted margin."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    with pytest.warns(RobustkitWarning, match="targeted margin z_t - z_y instead of its loss 'dlr-targeted'"):
        result = APGDT(eps=0.1, steps=2).run(model, np.full((2, 3), 0.5, "float32"), [0, 1])
    assert np.abs(result.x_adv.numpy() - 0.5).max() <= 0.1
    assert APGDT(eps=0.1, n_targets=20).guide_ranks(5) == [2, 3, 4, 5]


def test_eot_averages_passes_and_changes_nothing_on_a_deterministic_model(digits, digits_cnn):
    x, y = digits.x_test[:40], digits.y_test[:40]
    one = APGD(eps=0.1, steps=8, seed=0).run(digits_cnn, x, y)
    three = APGD(eps=0.1, steps=8, seed=0, eot=3).run(digits_cnn, x, y)
    np.testing.assert_array_equal(three.success, one.success)
    np.testing.assert_allclose(three.x_adv.numpy(), one.x_adv.numpy(), atol=1e-5)
    np.testing.assert_array_equal(three.grad_evals, 3 * one.grad_evals)


@pytest.mark.slow
def test_the_rand_ensemble_attacks_a_randomized_model(digits):
    from robustkit.attacks import AutoAttack
    from tests.check_models import dropout_on

    x, y = digits.x_test[:30], digits.y_test[:30]
    ensemble = AutoAttack(eps=0.15, version="rand", steps=5, seed=0)
    assert ensemble.names == ["apgd-ce", "apgd-dlr"] and all(a.eot == 20 for a in ensemble.attacks)
    result = ensemble.run(dropout_on(), x, y)
    assert result.success.sum() > 0 and np.all(result.grad_evals[result.broken_by == "apgd-ce"] % 20 == 0)


@given(st.integers(1, 6), st.floats(0.05, 3.0), st.data())
def test_the_l1_box_projection_is_the_closest_point(n, eps, data):
    from scipy.optimize import minimize

    from robustkit.attacks.apgd_l1 import project_l1_box

    delta = np.array(data.draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n)))
    low = -np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    high = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    d = project_l1_box(*(tf.constant(v[None], tf.float64) for v in (delta, low, high)), tf.constant(eps, tf.float64))
    d = d[0].numpy()
    assert np.abs(d).sum() <= eps * (1 + 1e-9) and np.all(d >= low) and np.all(d <= high)
    # d = p - q with p, q >= 0: a smooth problem a general solver handles
    best = minimize(
        lambda v: np.sum((v[:n] - v[n:] - delta) ** 2),
        np.zeros(2 * n),
        bounds=[(0, h) for h in high] + [(0, -lo) for lo in low],
        constraints=[{"type": "ineq", "fun": lambda v: eps - v.sum()}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    if best.success:
        assert np.sum((d - delta) ** 2) <= best.fun + 1e-7


@pytest.mark.slow
def test_apgd_l1_adapts_its_sparsity_and_beats_pgd_l1(digits, digits_cnn):
    x, y = digits.x_test[:120], digits.y_test[:120]
    apgd = APGD(eps=2.0, norm="l1", steps=50, seed=0).run(digits_cnn, x, y)
    pgd = PGD(eps=2.0, norm="l1", steps=50, random_start=True, seed=0).run(digits_cnn, x, y)
    assert apgd.robust_accuracy < pgd.robust_accuracy
    delta = (apgd.x_adv.numpy() - x).reshape(len(x), -1)
    assert np.all(np.abs(delta).sum(axis=1) <= 2.0 + 1e-6)
    # Sparse: the broken examples' perturbations change far fewer than all 64 pixels.
    assert np.median(np.count_nonzero(delta[apgd.success], axis=1)) < 32


def _wavy_problem(steps: int):
    """A two-class model whose margin loss is wavy along the first feature: large steps overshoot its peaks."""
    inputs = keras.Input((2,))
    wave = keras.layers.Lambda(lambda v: tf.stack([tf.sin(3.0 * v[:, 0]) + 0.2 * v[:, 1], tf.zeros_like(v[:, 0])], 1))
    model = keras.Model(inputs, wave(inputs))
    x = tf.constant([[0.3, 0.1]], tf.float32)
    cfg = LoopConfig(get_norm("l2"), "margin", False, steps)
    problem = Problem(as_logits(model), cfg, x, 2.0, 4.0, example_keys(0, [0]), np.float64(-5), np.float64(5))
    return problem, x, tf.constant([0])


def test_each_step_is_the_momentum_step_from_the_best_point_after_a_halving():
    """x_{k+1} = P(a z + (1 - a)(2 x_from - x_k)), z = P(x_from + eta dir(g_from)), a = 1 then 0.75, where
    x_from (and g_from) is the best point so far at a checkpoint that halves the step, else x_k."""
    steps = 12
    problem, x, labels = _wavy_problem(steps)
    rule, rows = APGDRule(steps), problem.rows(x, labels)
    state = rule.init(problem, x, tf.constant(0))
    paths = {"momentum": 0, "restart-from-best": 0}
    for k in range(steps):
        evaluation = problem.gradient_at(state.x, labels)
        new = rule.step(problem, state, evaluation, rows)
        halved = float(new.eta[0]) < float(state.eta[0])
        x_from = new.x_max.numpy() if halved else state.x.numpy()
        g_from = new.grad_max.numpy() if halved else evaluation.gradient.numpy()
        a = 1.0 if k == 0 else 0.75

        def onto_ball(point):
            delta = point - x.numpy()
            return np.clip(x.numpy() + delta * min(1.0, 2.0 / np.linalg.norm(delta)), -5, 5)

        z = onto_ball(x_from + float(new.eta[0]) * g_from / np.linalg.norm(g_from))
        expected = onto_ball(a * z + (1 - a) * (2 * x_from - state.x_prev.numpy()))
        np.testing.assert_allclose(new.x.numpy(), expected, rtol=1e-5, atol=1e-6, err_msg=f"step {k}")
        paths["momentum"] += a < 1 and not np.allclose(expected, z, atol=1e-4)
        paths["restart-from-best"] += halved and not np.allclose(x_from, state.x.numpy(), atol=1e-4)
        state = new
    # Both parts of the rule were exercised, so leaving either out changes some step.
    assert paths["momentum"] >= 3 and paths["restart-from-best"] >= 1, paths

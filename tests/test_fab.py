"""FAB-T: its hyperplane projections against a linear-programming solver, its radius, its strength."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import linprog, minimize

from robustkit.attacks import FAB, PGD, AutoAttack
from robustkit.attacks.hyperplane import project
from robustkit.errors import ConfigError


def _reference(norm, w, c, low, high):
    """The smallest step onto w . d = c inside [low, high], by a general-purpose solver."""
    n = len(w)
    if norm == "l2":
        done = minimize(
            lambda d: d @ d,
            np.clip(np.zeros(n), low, high),
            jac=lambda d: 2 * d,
            bounds=list(zip(low, high)),
            constraints=[{"type": "eq", "fun": lambda d: w @ d - c, "jac": lambda d: w}],
            method="SLSQP",
            options={"ftol": 1e-12, "maxiter": 500},
        )
        return done.x if done.success else None
    if norm == "l1":  # d = p - q, p, q >= 0: minimise sum(p + q)
        done = linprog(
            np.ones(2 * n),
            A_eq=[np.concatenate([w, -w])],
            b_eq=[c],
            bounds=[(0, h) for h in high] + [(0, -lo) for lo in low],
        )
        return done.x[:n] - done.x[n:] if done.success else None
    # L-inf: minimise t with -t <= d <= t
    done = linprog(
        np.r_[np.zeros(n), 1.0],
        A_eq=[np.r_[w, 0.0]],
        b_eq=[c],
        A_ub=np.block([[np.eye(n), -np.ones((n, 1))], [-np.eye(n), -np.ones((n, 1))]]),
        b_ub=np.zeros(2 * n),
        bounds=[(lo, h) for lo, h in zip(low, high)] + [(0, None)],
    )
    return done.x[:n] if done.success else None


def _size(norm, d):
    return {"linf": np.abs(d).max(), "l2": np.linalg.norm(d), "l1": np.abs(d).sum()}[norm]


@given(
    st.sampled_from(["linf", "l2", "l1"]),
    st.integers(1, 6),
    st.data(),
)
def test_the_projection_is_the_smallest_step_onto_the_hyperplane_in_the_box(norm, n, data):
    floats = st.floats(-2, 2, allow_subnormal=False)
    w = np.array(data.draw(st.lists(floats, min_size=n, max_size=n)))
    c = data.draw(floats)
    low = -np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    high = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    d = project(norm, *(tf.constant(v[None], tf.float64) for v in (w, np.array(c), low, high)))[0].numpy()
    assert np.all(d >= low - 1e-12) and np.all(d <= high + 1e-12)
    reachable = np.sum(np.where(w > 0, w * high, w * low)), np.sum(np.where(w > 0, w * low, w * high))
    if not reachable[1] - 1e-9 <= c <= reachable[0] + 1e-9:
        # Out of reach: every coordinate that helps sits at its bound (as close to the plane as the box allows).
        best = np.where(w * np.sign(c) > 0, high, low) * (w != 0)
        assert abs(w @ d - w @ best) <= 1e-6 * (1 + abs(w @ best))
        return
    assert abs(w @ d - c) <= 1e-6 * (1 + abs(c))
    expected = _reference(norm, w, c, low, high)
    if expected is not None:
        assert _size(norm, d) <= _size(norm, expected) * (1 + 1e-5) + 1e-7


def test_the_radius_is_the_distance_of_a_real_adversarial_example(digits, digits_cnn):
    x, y = digits.x_test[:48], digits.y_test[:48]
    far = FAB(eps=10.0, steps=20, n_targets=3, seed=0).run(digits_cnn, x, y)
    found = np.isfinite(far.radius)
    assert found.mean() > 0.9
    # With eps above every radius, x_adv is the closest point found: misclassified, at that distance.
    assert np.all(far.adv_pred[found] != y[found])
    np.testing.assert_allclose(far.norms[found], far.radius[found], rtol=1e-5)
    # A smaller eps leaves more examples to the later targets, so radii only shrink; success is
    # exactly "radius <= eps".
    near = FAB(eps=0.1, steps=20, n_targets=3, seed=0).run(digits_cnn, x, y)
    assert np.all(near.radius <= far.radius + 1e-7)
    np.testing.assert_array_equal(near.success, near.radius <= 0.1)
    assert np.all(near.norms <= 0.1 + 1e-6)


def test_fab_t_is_at_least_as_strong_as_pgd_20(digits, digits_cnn):
    x, y = digits.x_test[:120], digits.y_test[:120]
    fab = FAB(eps=0.15, steps=30, n_targets=3, seed=0).run(digits_cnn, x, y)
    pgd = PGD(eps=0.15, steps=20, step_size=0.15 / 8, random_start=True, seed=0).run(digits_cnn, x, y)
    assert fab.robust_accuracy <= pgd.robust_accuracy


@pytest.mark.slow
def test_the_standard_ensemble_runs_fab_and_square_on_the_survivors(digits, digits_cnn_pgd):
    x, y = digits.x_test[:60], digits.y_test[:60]
    ensemble = AutoAttack(eps=0.1, steps=10, n_targets=2, queries=100, seed=0)
    result = ensemble.run(digits_cnn_pgd, x, y)
    assert ensemble.names == ["apgd-ce", "apgd-t", "fab-t", "square"]
    credited = ensemble.contributions(result)
    assert sum(credited.values()) == int(np.sum(result.success & result.clean_correct))
    assert result.queries is not None and np.all(result.queries[result.broken_by == "apgd-ce"] == 0)
    assert np.all(np.abs(result.x_adv.numpy() - x).max(axis=(1, 2, 3)) <= 0.1 + 1e-6)
    with pytest.raises(ConfigError, match="no L1 version"):
        AutoAttack(eps=1.0, norm="l1")


def test_bad_settings_say_what_to_fix():
    with pytest.raises(ConfigError, match="eta must be a number in"):
        FAB(eps=0.1, eta=3.0)
    with pytest.raises(ConfigError, match="n_targets"):
        FAB(eps=0.1, n_targets=0)

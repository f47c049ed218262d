"""Tabular threat models against closed forms: each feature's radius, and the strongest valid category.

The radius of ``eps_scale="std"`` is each column's population standard deviation, worked out by hand
on small columns; given scales and ranges are taken as written. A one-hot group's repair is checked
against brute force: every category of the group tried on the model, kept if the whole point lies in
the ball and the bounds (checked in float64 here), the strongest by the attack's margin.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from robustkit.attacks import PGD
from robustkit.constraints import FeatureSpec

COLUMNS = np.array([[1.0, 10.0, 5.0], [3.0, 40.0, 5.0], [1.0, 10.0, 5.0], [3.0, 40.0, 5.0]])


@pytest.mark.parametrize(
    "scale, radius",
    [
        ("std", [1.0, 15.0, 0.0]),  # |1 - 2| = 1 and |10 - 25| = 15 from each column's mean; a constant column: 0
        ("range", [2.0, 100.0, 10.0]),  # upper - lower, as given below
        ((0.5, 2.0, 7.0), [0.5, 2.0, 7.0]),
    ],
    ids=["std", "range", "given"],
)
def test_each_feature_moves_by_eps_times_its_scale(scale, radius):
    bounds = (np.array([0.0, 0.0, 0.0]), np.array([2.0, 100.0, 10.0]))
    resolved = FeatureSpec(eps_scale=scale).resolve(["a", "b", "c"], COLUMNS, bounds)
    np.testing.assert_allclose(resolved.radius, radius, rtol=1e-12)


def test_the_std_scale_of_a_wide_column_is_its_spread_not_its_inverse():
    """An income column of mean 33,000 and spread 5,773.5 (uniform on 23,000-43,000: 20,000 / sqrt(12))."""
    income = np.linspace(23000, 43000, 100001)[:, None]
    resolved = FeatureSpec(eps_scale="std").resolve(["income"], income, (np.array([0.0]), np.array([1e5])))
    assert resolved.radius[0] == pytest.approx(20000 / np.sqrt(12), rel=1e-4)


def _categorical_model() -> keras.Model:
    keras.utils.set_random_seed(11)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])


def _gap(model: keras.Model, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """How far another class leads the label (the attack's margin), in float64, by hand."""
    z = model(points.astype(np.float32), training=False).numpy().astype(np.float64)
    own = z[np.arange(len(z)), labels]
    z[np.arange(len(z)), labels] = -np.inf
    return z.max(axis=1) - own


@pytest.mark.parametrize("norm, eps", [("linf", 1.0), ("linf", 0.5), ("l2", 1.6), ("l2", 2.2)])
def test_a_one_hot_group_takes_its_strongest_valid_category(norm, eps):
    model = _categorical_model()
    rng = np.random.default_rng(4)
    x = np.column_stack([rng.uniform(0, 1, (60, 2)), np.eye(3)[rng.integers(0, 3, 60)]]).astype(np.float32)
    y = np.argmax(model(x).numpy(), axis=1)
    rule = FeatureSpec(one_hot=(("2", "3", "4"),)).resolve(None, x, (0.0, 1.0))
    adv = PGD(eps=eps, norm=norm, steps=5, bounds=(0.0, 1.0), seed=0).with_constraints(rule).run(model, x, y)
    adv = adv.x_adv.numpy().astype(np.float64)
    assert np.all(np.isin(adv[:, 2:], [0.0, 1.0])) and np.all(adv[:, 2:].sum(axis=1) == 1)
    best = np.full(len(x), -np.inf)
    for category in range(3):
        candidate = adv.copy()
        candidate[:, 2:] = np.eye(3)[category]
        delta = candidate - x.astype(np.float64)
        size = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta**2).sum(axis=1))
        valid = size <= eps
        best = np.where(valid, np.maximum(best, _gap(model, candidate, y)), best)
    chosen = _gap(model, adv, y)
    assert np.all(chosen >= best - 1e-5), np.flatnonzero(chosen < best - 1e-5)
    moved = np.any(adv[:, 2:] != x[:, 2:], axis=1)
    if norm == "linf" and eps < 1:  # another category is 1 away in two coordinates: none fits
        assert not moved.any()
    if (norm, eps) == ("linf", 1.0):
        assert moved.sum() >= 5  # the test sees categories change

"""A minimum-norm attack needs no eps: built without one, its radius answers every eps."""

from __future__ import annotations

import numpy as np
import pytest

from robustkit.attacks import FAB, FMN, PGD
from robustkit.errors import ConfigError


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fmn_without_eps_finds_the_same_radii_and_answers_every_eps(norm, digits, digits_mlp):
    x, y = digits.x_test[:30], digits.y_test[:30]
    free = FMN(steps=20, seed=0, norm=norm).run(digits_mlp, x, y)
    assert np.isinf(free.radius).sum() == 0 and free.success.all()  # every point found counts
    for eps in (0.05, 0.1, 0.3) if norm == "linf" else (0.3, 0.8):
        bound = FMN(eps=eps, steps=20, seed=0, norm=norm).run(digits_mlp, x, y)
        np.testing.assert_array_equal(free.radius <= eps, bound.success)  # eps plays no part in FMN's search
        np.testing.assert_allclose(free.radius[bound.success], bound.radius[bound.success], rtol=1e-6)


def test_fab_without_eps_keeps_each_examples_closest_point_over_every_target(digits, digits_mlp):
    x, y = digits.x_test[:30], digits.y_test[:30]
    free = FAB(steps=10, n_targets=2, seed=0).run(digits_mlp, x, y)
    bound = FAB(eps=0.1, steps=10, n_targets=2, seed=0).run(digits_mlp, x, y)
    assert free.success.all() and np.all(np.isfinite(free.radius))
    # every target ran on every example: nothing the eps run broke is farther without eps
    assert np.all(free.radius[bound.success] <= bound.radius[bound.success] + 1e-7)
    measured = np.abs(free.x_adv.numpy().astype(np.float64) - x.astype(np.float64)).reshape(30, -1).max(axis=1)
    np.testing.assert_allclose(free.radius, measured, rtol=1e-6)  # the radius is the returned point's norm


def test_attacks_that_need_eps_say_so():
    with pytest.raises(ConfigError, match="PGD needs eps"):
        PGD(eps=None)
    with pytest.raises(ConfigError, match="restarts start at eps / 2"):
        FAB(restarts=2)

"""AutoAttack-style ensembles: each attack on the survivors of the ones before, and who broke what."""

from __future__ import annotations

import numpy as np
import pytest

from robustkit.attacks import APGD, AutoAttack, Square
from robustkit.errors import ConfigError


def test_each_attack_runs_on_the_survivors_and_is_credited(digits, digits_cnn_pgd):
    x, y = digits.x_test[:120], digits.y_test[:120]
    ensemble = AutoAttack(eps=0.15, steps=10, n_targets=3, seed=0)
    result = ensemble.run(digits_cnn_pgd, x, y)
    alone = APGD(eps=0.15, steps=10, seed=0, early_stop=True).run(digits_cnn_pgd, x, y)
    np.testing.assert_array_equal(result.success[alone.success], True)  # the first attack is the same run
    assert result.robust_accuracy < alone.robust_accuracy  # APGD-T breaks more
    credited = ensemble.contributions(result)
    assert credited["apgd-ce"] == int(np.sum(alone.success & alone.clean_correct))
    assert credited["apgd-t"] == int(np.sum(result.success & ~alone.success)) > 0
    assert set(result.broken_by[~result.success]) == {""}
    # APGD-T spent nothing on what APGD-CE had broken.
    np.testing.assert_array_equal(result.grad_evals[alone.success], alone.grad_evals[alone.success])


def test_a_custom_list_and_the_missing_standard_version(digits, digits_cnn):
    x, y = digits.x_test[:40], digits.y_test[:40]
    custom = AutoAttack(eps=0.1, attacks=[APGD(eps=0.1, steps=5, seed=0), Square(eps=0.1, queries=50, seed=0)])
    result = custom.run(digits_cnn, x, y)
    assert custom.names == ["apgd-ce", "square"] and sum(custom.contributions(result).values()) > 0
    assert np.abs(result.x_adv.numpy() - x).max() <= 0.1 + 1e-6
    with pytest.raises(ConfigError, match="FAB-T, which robustkit does not have yet"):
        AutoAttack(eps=0.1, version="standard")
    with pytest.raises(ConfigError, match="must differ"):
        AutoAttack(eps=0.1, attacks=[APGD(eps=0.1), APGD(eps=0.1)])

"""The pytest plugin, used from a test file in a fresh project."""

from __future__ import annotations

import numpy as np
import pytest

from robustkit.outputs.testing import RobustnessError, assert_robust

TEST_FILE = """
import numpy as np
from robustkit.sources.data import load_digits_split
from robustkit.sources.zoo import load_zoo_model

data = load_digits_split()
x, y = data.x_test[:120], data.y_test[:120]
model = load_zoo_model("digits-cnn")


def test_robust_at_a_small_eps(assert_robust):
    result = assert_robust(model, x, y, eps=0.01, min_accuracy=0.8)
    assert result.robust_accuracy >= 0.8


def test_not_robust_at_a_large_eps(assert_robust):
    assert_robust(model, x, y, eps=0.2, min_accuracy=0.9)
"""


@pytest.mark.slow
def test_plugin_fixture_in_a_temporary_project(pytester, zoo_cache):
    pytester.makepyfile(test_model=TEST_FILE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*robust accuracy * is below the required 90.00%*",
            "*attack *| pgd (linf, eps=0.2)*",
            "*robust accuracy *| *(95% interval*",
            "*broken examples *|*",
        ]
    )


def test_assert_robust_directly(digits, digits_cnn):
    result = assert_robust(digits_cnn, digits.x_test[:60], digits.y_test[:60], eps=0.0, min_accuracy=0.9)
    assert result.robust_accuracy == pytest.approx(result.clean_accuracy)
    with pytest.raises(RobustnessError, match="below the required 100.00%"):
        assert_robust(digits_cnn, digits.x_test[:60], digits.y_test[:60], eps=0.3, min_accuracy=1.0, attack="fgsm")
    with pytest.raises(Exception, match="attack must be"):
        assert_robust(digits_cnn, digits.x_test[:5], digits.y_test[:5], eps=0.1, min_accuracy=0.5, attack="cw")
    assert np.isfinite(result.norms).all()

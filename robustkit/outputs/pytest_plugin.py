"""pytest plugin (entry point ``pytest11``): robustness assertions next to model tests.

Example test file::

    def test_my_model_is_robust(assert_robust, my_model, test_data):
        x, y = test_data
        assert_robust(my_model, x, y, eps=0.05, min_accuracy=0.8)

TensorFlow is imported only when a test asks for the fixture, so installing robustkit does not
slow down unrelated test runs.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def assert_robust():
    """The function :func:`robustkit.outputs.testing.assert_robust`."""
    from robustkit.outputs.testing import assert_robust as check

    return check


def pytest_configure(config):
    config.addinivalue_line("markers", "robustness: a test that attacks a model (may be slow)")

"""pytest plugin (entry point ``pytest11``): robustness assertions next to model tests.

Example test file::

    def test_my_model_is_robust(assert_robust, my_model, test_data):
        x, y = test_data
        assert_robust(my_model, x, y, eps=0.05, min_accuracy=0.8)

TensorFlow is imported only when a test asks for the fixture, so installing robustkit does not
slow down unrelated test runs.
"""

from __future__ import annotations

try:
    import pytest
except ImportError as err:  # pragma: no cover - pytest loads this module, so it is there
    raise ImportError(
        "robustkit's pytest plugin (the assert_robust fixture) needs pytest: pip install 'robustkit[pytest]'."
    ) from err


@pytest.fixture
def assert_robust():
    """The function :func:`robustkit.outputs.testing.assert_robust`."""
    from robustkit.outputs.testing import assert_robust as check

    return check


def pytest_configure(config):
    config.addinivalue_line("markers", "robustness: a test that attacks a model (may be slow)")

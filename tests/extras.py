"""Optional packages of the test suite: skipped where an extra is not installed, never under CI."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module: str, extra: str) -> ModuleType:
    """``module``, or a skip that names the extra bringing it; under ``CI`` (which installs every extra
    of ``robustkit[test]``) a missing module fails the run instead of skipping its tests silently."""
    if os.environ.get("CI"):
        try:
            return importlib.import_module(module)
        except ImportError as err:
            pytest.fail(f"CI installs robustkit[{extra}], yet {module} cannot be imported: {err}", pytrace=False)
    return pytest.importorskip(module, reason=f"the {extra} extra is not installed (pip install 'robustkit[{extra}]')")

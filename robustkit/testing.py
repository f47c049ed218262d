"""Deprecated: ``robustkit.testing`` is now ``robustkit.outputs.testing``.

Import from the facade instead: ``from robustkit.outputs import assert_robust``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

import warnings
from typing import Any

import robustkit.outputs.testing as _moved

warnings.warn(
    "robustkit.testing is deprecated and will be removed in the next release; import from robustkit.outputs "
    "instead (from robustkit.outputs import assert_robust).",
    FutureWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)

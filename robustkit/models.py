"""Deprecated: ``robustkit.models`` is now ``robustkit.sources.models``.

Import from the facade instead: ``from robustkit.sources import load_model``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

import warnings
from typing import Any

import robustkit.sources.models as _moved

warnings.warn(
    "robustkit.models is deprecated and will be removed in the next release; import from robustkit.sources "
    "instead (from robustkit.sources import load_model).",
    FutureWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)

"""Deprecated: ``robustkit.data`` is now ``robustkit.sources.data``.

Import from the facade instead: ``from robustkit.sources import load_data, load_digits_split``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

import warnings
from typing import Any

import robustkit.sources.data as _moved

warnings.warn(
    "robustkit.data is deprecated and will be removed in the next release; import from robustkit.sources "
    "instead (from robustkit.sources import load_data, load_digits_split).",
    FutureWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)

"""Deprecated: ``robustkit.augment`` is now ``robustkit.training.augment``.

Import from the facade instead: ``from robustkit.training import augment_dataset``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

import warnings
from typing import Any

import robustkit.training.augment as _moved

warnings.warn(
    "robustkit.augment is deprecated and will be removed in the next release; import from robustkit.training "
    "instead (from robustkit.training import augment_dataset).",
    FutureWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)

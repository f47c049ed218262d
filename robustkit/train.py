"""Deprecated: ``robustkit.train`` is now ``robustkit.training.adversarial``.

Import from the facade instead: ``from robustkit.training import AdversarialTrainer``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

import warnings
from typing import Any

import robustkit.training.adversarial as _moved

warnings.warn(
    "robustkit.train is deprecated and will be removed in the next release; import from robustkit.training "
    "instead (from robustkit.training import AdversarialTrainer).",
    FutureWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)

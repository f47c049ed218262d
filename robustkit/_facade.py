"""Facades: a subpackage exports its public names, each imported from its module when first used.

A subpackage's ``__init__`` lists what it exports and where each name lives; nothing is imported
until a name is asked for, so importing one module of a subpackage stays as cheap as before and
the facades add no import cycles. Type checkers see the names through ``TYPE_CHECKING`` imports.

Example:
    >>> getattr_ = lazy_exports("robustkit.norms_demo", {"get_norm": "robustkit.norms"})
    >>> getattr_("get_norm").__name__
    'get_norm'
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) and returns its ``name``."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__


def moved_module(old: str, new: str, example: str) -> Callable[[str], Any]:
    """For a module that moved: warn (FutureWarning) that ``old`` goes in the next release, and return a
    module ``__getattr__`` that reads every name from ``new``."""
    moved = importlib.import_module(new)
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; import from {new.rsplit('.', 1)[0]} "
        f"instead ({example}).",
        FutureWarning,
        stacklevel=3,
    )

    def __getattr__(name: str) -> Any:
        return getattr(moved, name)

    return __getattr__

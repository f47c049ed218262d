"""``package.module:function`` specs: the user's own code that makes a model or data.

The module is imported with the current folder on the path (where a user's own modules live),
and its function is called with no arguments.

Example:
    >>> call_factory("math:pi", ValueError)
    Traceback (most recent call last):
    ...
    ValueError: 'math' has no callable 'pi' for 'math:pi'.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any


def call_factory(spec: str, error: type[Exception]) -> Any:
    """Import ``module`` of ``module:function``, call ``function()`` and return what it returns."""
    module_name, _, attribute = spec.partition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise error(f"Could not import {module_name!r} for {spec!r}: {err}") from err
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise error(f"{module_name!r} has no callable {attribute!r} for {spec!r}.")
    return factory()

"""Deprecated: ``robustkit.data`` is now ``robustkit.sources.data``.

Import from the facade instead: ``from robustkit.sources import load_data, load_digits_split``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

from robustkit._facade import moved_module

__getattr__ = moved_module(
    __name__, "robustkit.sources.data", "from robustkit.sources import load_data, load_digits_split"
)

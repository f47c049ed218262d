"""Deprecated: ``robustkit.models`` is now ``robustkit.sources.models``.

Import from the facade instead: ``from robustkit.sources import load_model``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

from robustkit._facade import moved_module

__getattr__ = moved_module(__name__, "robustkit.sources.models", "from robustkit.sources import load_model")

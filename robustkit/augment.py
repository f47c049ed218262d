"""Deprecated: ``robustkit.augment`` is now ``robustkit.training.augment``.

Import from the facade instead: ``from robustkit.training import augment_dataset``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

from robustkit._facade import moved_module

__getattr__ = moved_module(__name__, "robustkit.training.augment", "from robustkit.training import augment_dataset")

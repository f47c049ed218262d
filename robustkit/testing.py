"""Deprecated: ``robustkit.testing`` is now ``robustkit.outputs.testing``.

Import from the facade instead: ``from robustkit.outputs import assert_robust``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

from robustkit._facade import moved_module

__getattr__ = moved_module(__name__, "robustkit.outputs.testing", "from robustkit.outputs import assert_robust")

"""Deprecated: ``robustkit.train`` is now ``robustkit.training.adversarial``.

Import from the facade instead: ``from robustkit.training import AdversarialTrainer``.

This alias keeps old imports working for one release, with a ``FutureWarning``; it will be removed.
"""

from robustkit._facade import moved_module

__getattr__ = moved_module(
    __name__, "robustkit.training.adversarial", "from robustkit.training import AdversarialTrainer"
)

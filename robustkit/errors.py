"""The exceptions robustkit raises.

Every error a user can cause derives from :class:`RobustkitError`; its message says what was
wrong and how to fix it. The command line prints that message (no traceback) and exits 2.

Example:
    >>> from robustkit.errors import InputError
    >>> try:
    ...     raise InputError("x has dtype int32; cast it to float32 first.")
    ... except RobustkitError as err:
    ...     print(err)
    x has dtype int32; cast it to float32 first.
"""

from __future__ import annotations


class RobustkitError(Exception):
    """Base class of every error robustkit raises on purpose."""


class BackendError(RobustkitError, RuntimeError):
    """Keras is running on a backend other than TensorFlow."""


class InputError(RobustkitError, ValueError):
    """The inputs ``x`` are unusable: dtype, shape, NaN/Inf or outside the bounds."""


class LabelError(InputError):
    """The labels ``y`` (or targets) have the wrong shape, dtype or values."""


class GradientError(RobustkitError):
    """A gradient could not be computed (``None``): the input is not connected to the output."""


class ConfigError(RobustkitError, ValueError):
    """An attack, suite or command-line option has a bad value."""


class ModelError(RobustkitError):
    """A model could not be loaded or used."""


class DataError(RobustkitError):
    """A data set could not be loaded."""


class RobustkitWarning(UserWarning):
    """Warnings robustkit emits about an evaluation (for example, attacking a softmax output)."""

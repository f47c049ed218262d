"""Validation of attack settings: every bad value raises :class:`ConfigError` saying what is allowed.

Example:
    >>> positive_int("steps", 10)
    10
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from robustkit.errors import ConfigError

TARGET_MODES = ("random", "least_likely")


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (bools are refused: ``True`` is no step count)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def optional_step_size(step_size: Any) -> float | None:
    """None (the attack's default) or a finite number > 0."""
    if step_size is None:
        return None
    try:
        size = float(step_size)
    except (TypeError, ValueError):
        raise ConfigError(f"step_size must be a number, got {step_size!r}.") from None
    if not math.isfinite(size) or size <= 0:
        raise ConfigError(f"step_size must be finite and > 0, got {step_size!r}.")
    return size


def target_mode(target: Any) -> str | None:
    if target is not None and target not in TARGET_MODES:
        raise ConfigError(f"target must be one of {TARGET_MODES} or None, got {target!r}.")
    return target


def restarts_for(restarts: Any, random_start: bool) -> int:
    restarts = positive_int("restarts", restarts)
    if restarts > 1 and not random_start:
        raise ConfigError(
            "restarts > 1 needs random_start=True; without a random start every restart "
            "follows the same path and only costs time."
        )
    return restarts

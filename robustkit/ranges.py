"""Input ranges: bounds given as scalars, per channel or per feature, and eps as a fraction of the range.

Eps is written either in input units (``0.03``) or as a fraction of the input range (``"8/255"``):
for a model that reads [0, 255] pixels, ``"8/255"`` is 8 input units; for one that reads [0, 1], it
is 8/255. A fraction needs one range width for every feature; per-feature ranges of different
widths take eps in input units.

Example:
    >>> parse_eps("8/255")
    Fraction(8, 255)
    >>> in_input_units(parse_eps("8/255"), (0.0, 255.0)), in_input_units(0.1, (0.0, 1.0))
    (8.0, 0.1)
    >>> eps_label(Fraction(8, 255)), eps_label(0.1)
    ('8/255', '0.1')
    >>> describe_bounds(([0, 0, 0], [255, 255, 255]))
    '[0, 255]'
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

import numpy as np

from robustkit.errors import ConfigError, InputError
from robustkit.inputs import validate_bounds, validate_eps

Eps = float | Fraction
_FRACTION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def parse_eps(value: Any, name: str = "eps") -> Eps:
    """A number (input units) or a string ``"a/b"`` (a fraction of the input range)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, str):
        match = _FRACTION.match(value)
        if not match and _FRACTION.match(value.strip().lstrip("-")):
            raise ConfigError(f"{name} must be >= 0, got {value!r}.")
        if not match:
            try:
                number = float(value)
            except ValueError:
                raise ConfigError(
                    f"{name} must be a number or a fraction of the input range like '8/255', got {value!r}."
                ) from None
            return validate_eps(number, name)
        numerator, denominator = Fraction(match.group(1)), Fraction(match.group(2))
        if denominator == 0:
            raise ConfigError(f"{name} {value!r} divides by zero.")
        return numerator / denominator
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number or a fraction like '8/255', got {value!r}.")
    return validate_eps(value, name)


def as_fraction_of_range(value: Any, name: str = "eps") -> Fraction:
    """An eps written as a number or ``"a/b"``, read as a fraction of the input range.

    Example:
        >>> as_fraction_of_range(0.075), as_fraction_of_range("8/255")
        (Fraction(3, 40), Fraction(8, 255))
    """
    parsed = parse_eps(value, name)
    return parsed if isinstance(parsed, Fraction) else Fraction(repr(float(parsed)))


def range_width(bounds: Any) -> float:
    """The one width ``upper - lower`` shared by every feature; an error if the widths differ."""
    lower, upper = validate_bounds(bounds)
    widths = np.broadcast_to(upper - lower, np.broadcast_shapes(lower.shape, upper.shape))
    widest, narrowest = float(np.max(widths)), float(np.min(widths))
    if not math.isclose(widest, narrowest, rel_tol=1e-9):
        raise ConfigError(
            f"eps written as a fraction of the range needs one range for every feature, but these bounds have "
            f"widths from {narrowest:g} to {widest:g} (a table's columns, for instance). Write eps in input units "
            "(--eps 0.1, or eps = [0.1] in the attack suite), or give each feature its own eps with --eps-scale std "
            "or --eps-scale range (eps_scale in the suite): then eps, 8/255 too, counts in each feature's scale."
        )
    return widest


def in_input_units(eps: Eps, bounds: Any) -> float:
    """``eps`` in the units of the inputs: fractions are scaled by the range width."""
    if isinstance(eps, Fraction):
        return eps.numerator * range_width(bounds) / eps.denominator
    return float(eps)


def resolved_grid(
    grid: Any, headline: Eps | None, bounds: Any
) -> tuple[tuple[float, ...], tuple[str, ...], float | None]:
    """An eps grid in input units for inputs in ``bounds``, sorted, each eps as it was written, and the headline eps.

    Example:
        >>> resolved_grid((Fraction(8, 255), Fraction(2, 255)), Fraction(8, 255), (0.0, 255.0))
        ((2.0, 8.0), ('2/255', '8/255'), 8.0)
    """
    ordered = sorted((in_input_units(e, bounds), eps_label(e)) for e in grid)
    chosen = None if headline is None else in_input_units(headline, bounds)
    return tuple(e for e, _ in ordered), tuple(w for _, w in ordered), chosen


def eps_label(eps: Eps) -> str:
    """How an eps is written: ``"8/255"`` for a fraction, ``"0.1"`` for a number or a fraction with a short
    decimal form (``Fraction(3, 40)`` is ``"0.075"``)."""
    if not isinstance(eps, Fraction):
        return f"{eps:g}"
    decimal = f"{float(eps):.6g}"
    return decimal if Fraction(decimal) == eps else f"{eps.numerator}/{eps.denominator}"


def bounds_to_json(bounds: Any) -> list:
    """Bounds as JSON: ``[lower, upper]``, each a number or a nested list."""
    lower, upper = validate_bounds(bounds)
    return [lower.tolist(), upper.tolist()]


def describe_bounds(bounds: Any) -> str:
    """A short text: ``[0, 1]`` when one range holds everywhere, else the spread of the per-feature ranges."""
    lower, upper = validate_bounds(bounds)
    if lower.size == 1 and upper.size == 1 or (np.ptp(lower) == 0 and np.ptp(upper) == 0):
        return f"[{float(lower.flat[0]):g}, {float(upper.flat[0]):g}]"
    return (
        f"per feature ({max(lower.size, upper.size)} values): lower {float(lower.min()):g} to {float(lower.max()):g}, "
        f"upper {float(upper.min()):g} to {float(upper.max()):g}"
    )


def broadcast_bounds(
    bounds: Any, example_shape: tuple[int, ...], name: str = "bounds"
) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` checked to broadcast to one example of ``example_shape``."""
    lower, upper = validate_bounds(bounds)
    for side, array in (("lower", lower), ("upper", upper)):
        try:
            np.broadcast_shapes(array.shape, tuple(example_shape))
            if len(array.shape) > len(example_shape):
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"The {side} {name} have shape {array.shape}, which does not fit one example of shape "
                f"{tuple(example_shape)}: give a number, one value per channel (the last axis) or one per feature."
            ) from None
    return lower, upper


def ensure_data_in_bounds(x: np.ndarray, bounds: Any, what: str, slack: float = 1e-6) -> None:
    """Raise :class:`InputError` naming the data, the range found and the bounds, if ``x`` leaves them."""
    lower, upper = broadcast_bounds(bounds, x.shape[1:])
    below = x < lower - slack
    above = x > upper + slack
    if below.any() or above.any():
        raise InputError(
            f"{what} has values in [{float(x.min()):.4g}, {float(x.max()):.4g}], outside the bounds "
            f"{describe_bounds(bounds)} ({int(below.sum() + above.sum())} value(s)). Give the bounds the model "
            "reads (bounds = [low, high] in the attack suite, --bounds LOW HIGH, or a 'bounds' array in the .npz), "
            "or rescale the data."
        )

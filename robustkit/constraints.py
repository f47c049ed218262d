"""Feature constraints: the threat model of tables (and of any model whose features differ in kind).

One eps in input units moves ``income`` and ``support_calls`` by the same amount, which means
nothing for either. Four constraints make a threat model that does:

* **per-feature eps** (``eps_scale``): feature ``i`` may move by ``eps * scale[i]``, the scale being
  each feature's standard deviation in the data (``"std"``), its range between the bounds
  (``"range"``) or a given vector; the norm is then taken of ``delta / scale``
  (:class:`robustkit.scaled_norm.ScaledNorm`), so eps reads "0.1 of each feature's spread";
* **immutable** features (age, country) never move: their scale is 0;
* **integer** features (counts) take integer values: an attack's value is rounded to the nearest
  integer when that stays inside the ball and the bounds, else toward x (always inside);
* **one-hot** groups (an encoded category) stay one valid category: of the categories whose point
  stays inside the ball and the bounds, the group takes the strongest, the one where the attack's
  objective is largest (given a ``score``; without one, the category the attack pushed highest), and
  x's own where no other fits (x's own always does).

Immutability and the scale act inside the attack loop; integers and one-hot groups are repaired
on the attack's final point (then classified again, so success always describes the returned
point). :class:`FeatureSpec` names features (a table's column names, or flat indices);
:meth:`FeatureSpec.resolve` turns it into :class:`Constraints` for one data set.

Example:
    >>> import numpy as np
    >>> x = np.array([[0.5, 3.0, 1.0, 0.0]])
    >>> spec = FeatureSpec(immutable=("a",), integer=("calls",), one_hot=(("p", "q"),))
    >>> constraints = spec.resolve(["a", "calls", "p", "q"], x, (0.0, 10.0))
    >>> constraints.radius.tolist(), constraints.described
    ([0.0, 1.0, 1.0, 1.0], ('immutable: a', 'integer: calls', 'one-hot: p, q'))
    >>> adv = np.array([[0.5, 4.7, 0.2, 0.9]])
    >>> repair(x, adv, 2.0, "linf", constraints).tolist()
    [[0.5, 5.0, 0.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.ball import norm_limit
from robustkit.errors import ConfigError, DataError
from robustkit.norms import get_norm
from robustkit.ranges import broadcast_bounds
from robustkit.scaled_norm import ScaledNorm

__all__ = ["EPS_UNITS", "SCALES", "Constraints", "FeatureSpec", "parse_eps_scale", "parse_features", "repair"]

SCALES = ("std", "range")
# What eps counts in under each eps scale (None: no scale), as reports, tables and curves write it.
EPS_UNITS = {
    None: "input units",
    "std": "x std per feature",
    "range": "x range per feature",
    "given": "x given scale per feature",
}
Feature = str | int


@dataclass(frozen=True)
class Constraints:
    """Constraints resolved for examples of one shape (every array has that shape)."""

    radius: np.ndarray  # float64: feature i moves by at most eps * radius[i]; 0 pins it
    integer: np.ndarray  # bool
    one_hot: tuple[tuple[int, ...], ...]  # flat indices of each group
    described: tuple[str, ...] = ()
    eps_unit: str = "input units"  # what eps counts in: see EPS_UNITS

    @property
    def needs_repair(self) -> bool:
        return bool(self.integer.any()) or bool(self.one_hot)

    def config(self) -> dict:
        """JSON for results (and the cell keys: cells computed under other constraints are not reused)."""
        return {
            "radius": self.radius.ravel().tolist(),
            "integer": np.flatnonzero(self.integer).tolist(),
            "one_hot": [list(group) for group in self.one_hot],
            "described": list(self.described),
            "eps_unit": self.eps_unit,
        }


def _index(feature: Feature, names: Sequence[str] | None, size: int) -> int:
    if isinstance(feature, str) and names is not None and feature in names:
        return list(names).index(feature)
    try:
        index = int(feature)
    except (TypeError, ValueError):
        known = f"its columns are {', '.join(names)}" if names else "name features by their flat index"
        raise ConfigError(f"Unknown feature {feature!r}; {known}.") from None
    if not 0 <= index < size:
        raise ConfigError(f"Feature index {index} is outside the {size} features of an example.")
    return index


def _label(index: Any, names: Sequence[str] | None) -> str:
    return str(names[index]) if names is not None else str(index)


@dataclass(frozen=True)
class FeatureSpec:
    """Constraints as written: features by column name (tables) or flat index."""

    eps_scale: str | tuple[float, ...] | None = None
    immutable: tuple[Feature, ...] = ()
    integer: tuple[Feature, ...] = ()
    one_hot: tuple[tuple[Feature, ...], ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.eps_scale is not None or self.immutable or self.integer or self.one_hot)

    def config(self) -> dict:
        return {
            "eps_scale": list(self.eps_scale) if isinstance(self.eps_scale, tuple) else self.eps_scale,
            "immutable": list(self.immutable),
            "integer": list(self.integer),
            "one_hot": [list(g) for g in self.one_hot],
        }

    def resolve(self, names: Sequence[str] | None, x: np.ndarray, bounds: Any) -> Constraints:
        """The constraints for data ``x`` (examples along axis 0) in ``bounds``; ``names``: its features' names."""
        shape = tuple(x.shape[1:])
        size = int(np.prod(shape))
        flat = np.asarray(x, np.float64).reshape(len(x), size)
        radius, described = self._radius(names, flat, bounds, shape)
        for feature in self.immutable:
            radius[_index(feature, names, size)] = 0.0
        if self.immutable:
            described.append("immutable: " + ", ".join(_label(_index(f, names, size), names) for f in self.immutable))
        integer = np.zeros(size, bool)
        for feature in self.integer:
            index = _index(feature, names, size)
            if not np.all(np.mod(flat[:, index], 1) == 0):
                raise DataError(
                    f"Feature {_label(index, names)!r} is declared integer but the data holds non-integer values "
                    "in it; round it first or do not declare it integer."
                )
            integer[index] = True
        if self.integer:
            described.append("integer: " + ", ".join(_label(i, names) for i in np.flatnonzero(integer)))
        groups = tuple(tuple(_index(f, names, size) for f in group) for group in self.one_hot)
        for group in groups:
            values = flat[:, list(group)]
            if len(group) < 2 or not (np.all((values == 0) | (values == 1)) and np.all(values.sum(axis=1) == 1)):
                raise DataError(
                    f"One-hot group {[_label(i, names) for i in group]}: every row must hold exactly one 1 and "
                    "0 elsewhere in these features (and a group needs two or more)."
                )
        taken = [i for group in groups for i in group]
        if len(taken) != len(set(taken)) or any(integer[i] for i in taken):
            raise ConfigError("A feature may belong to one one-hot group at most, and not also be integer.")
        for group in groups:
            described.append("one-hot: " + ", ".join(_label(i, names) for i in group))
        scale = "given" if isinstance(self.eps_scale, tuple) else self.eps_scale
        unit = EPS_UNITS[scale]
        return Constraints(radius.reshape(shape), integer.reshape(shape), groups, tuple(described), unit)

    def _radius(self, names, flat, bounds, shape) -> tuple[np.ndarray, list[str]]:
        size = flat.shape[1]
        if self.eps_scale is None:
            return np.ones(size), []
        if isinstance(self.eps_scale, tuple):
            radius = np.asarray(self.eps_scale, np.float64)
            if radius.shape != (size,) or not np.all(np.isfinite(radius)) or np.any(radius < 0):
                raise ConfigError(f"eps_scale must give {size} finite numbers >= 0 (one per feature).")
            return radius.copy(), [f"eps per feature: eps times the given scale ({size} values)"]
        if self.eps_scale == "std":
            radius = flat.std(axis=0)
            constant = [_label(i, names) for i in np.flatnonzero(radius == 0)]
            text = "eps per feature: eps times each feature's standard deviation in the data"
            return radius, [text + (f" (constant, so fixed: {', '.join(constant)})" if constant else "")]
        if self.eps_scale == "range":
            lower, upper = broadcast_bounds(bounds, shape)
            width = np.broadcast_to(upper - lower, shape).astype(np.float64).ravel()
            return width.copy(), ["eps per feature: eps times each feature's range between its bounds"]
        raise ConfigError(f"eps_scale must be one of {', '.join(SCALES)} or a list of numbers, got {self.eps_scale!r}.")


def parse_features(text: str) -> tuple[str, ...]:
    """``"age,country"`` -> ``("age", "country")`` (names or flat indices, as the command line writes them)."""
    features = tuple(part.strip() for part in str(text).split(",") if part.strip())
    if not features:
        raise ConfigError(f"expected feature names or indices separated by commas, got {text!r}.")
    return features


def parse_eps_scale(text: str) -> str | tuple[float, ...]:
    """``"std"``, ``"range"`` or comma-separated numbers, one per feature."""
    if text in SCALES:
        return text
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(
            f"eps scale must be {' or '.join(SCALES)}, or one number per feature separated by commas; got {text!r}."
        ) from None


def repair(
    x: np.ndarray,
    x_adv: np.ndarray,
    eps: float,
    norm: Any,
    constraints: Constraints,
    bounds: Any = None,
    dtype: Any = np.float64,
    score: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``x_adv`` (inside the ball and bounds already) with integer features integer and one-hot groups valid.

    An integer feature takes the nearest integer where that point stays inside the ball (in the dtype
    ``dtype``'s headroom) and the bounds, else the integer toward x. Each one-hot group, one after
    another, takes the valid category (its whole point inside) that ``score`` rates highest:
    ``score(points)`` gets candidate points shaped like ``x_adv`` and returns one number per example,
    larger for a stronger attack (ties keep the earlier category). Without ``score``, a group takes the
    category with the largest value when it fits, else x's category. Computed in float64; x must hold
    integers and valid groups (see :meth:`FeatureSpec.resolve`).
    """
    x64 = np.asarray(x, np.float64)
    if bounds is None:
        lower, upper = np.full(x64[0].size, -np.inf), np.full(x64[0].size, np.inf)
    else:
        lower, upper = (np.broadcast_to(b, x64.shape[1:]).ravel() for b in broadcast_bounds(bounds, x64.shape[1:]))
    adv = np.array(x_adv, np.float64)
    n = len(x64)
    flat_x, flat = x64.reshape(n, -1), adv.reshape(n, -1)
    ball = ScaledNorm(get_norm(norm), constraints.radius)
    radius = constraints.radius.ravel()
    limit = eps if ball.name == "linf" else float(norm_limit(eps, tf.as_dtype(dtype), float(flat.shape[1])))

    def inside(candidate: np.ndarray) -> np.ndarray:
        """Per example (L-inf: per feature), whether ``candidate`` lies in the ball and the bounds."""
        delta = candidate - flat_x
        held = (candidate >= lower) & (candidate <= upper)
        if ball.name == "linf":
            return held & (np.abs(delta) <= eps * radius)
        size = ball.measure(tf.constant(delta.reshape(adv.shape), tf.float64)).numpy()
        return held.all(axis=1, keepdims=True) & (size <= limit)[:, None]

    integer = constraints.integer.ravel()
    if integer.any():
        # the nearest integer where it stays inside, else the integer toward x (always inside)
        toward_x = flat.copy()
        toward_x[:, integer] = flat_x[:, integer] + np.trunc(flat[:, integer] - flat_x[:, integer])
        nearest = toward_x.copy()
        nearest[:, integer] = np.round(flat[:, integer])
        flat = np.where(inside(nearest) & integer, nearest, toward_x)
    for group in constraints.one_hot:
        cols = list(group)
        choices = range(len(cols)) if score is not None else [None]
        best, best_score = flat_x[:, cols].copy(), np.full(n, -np.inf)  # x's category always fits
        for choice in choices:
            chosen = np.argmax(flat[:, cols], axis=1) if choice is None else np.full(n, choice)
            candidate = flat.copy()
            candidate[:, cols] = np.eye(len(cols))[chosen]
            fits = np.all(np.broadcast_to(inside(candidate), candidate.shape)[:, cols], axis=1)
            rating = np.zeros(n) if score is None else np.asarray(score(candidate.reshape(adv.shape)), np.float64)
            better = fits & (rating > best_score)
            best[better], best_score[better] = candidate[better][:, cols], rating[better]
        flat[:, cols] = best
    return flat.reshape(adv.shape)

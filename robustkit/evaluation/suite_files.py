"""Reading suite files: TOML, with errors that name the file, the key and what is allowed.

Example:
    >>> bad_value(Path("s.toml"), "top-level", "seed", -1, "an integer >= 0")
    ConfigError("s.toml: top-level key 'seed' has the bad value -1; allowed: an integer >= 0.")
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from robustkit.errors import ConfigError
from robustkit.inputs import validate_bounds
from robustkit.ranges import Eps, as_fraction_of_range, parse_eps


def repository_root() -> Path:
    """The source checkout this package was imported from (it holds ``attacks/`` and ``benchmarks/``)."""
    return Path(__file__).resolve().parents[2]


def packaged_folder(folder: str) -> Path:
    """Where robustkit keeps its own suites of ``folder``: ``robustkit/suites/`` (links to the checkout's
    ``attacks/`` and ``benchmarks/``; an installed package holds copies)."""
    return Path(__file__).resolve().parents[1] / "suites" / folder


def suite_roots(folder: str) -> list[tuple[str, Path]]:
    """The places suites of ``folder`` are looked up, first match wins, each with where it comes from.

    A folder of that name in the current directory overrides what ships with robustkit.
    """
    roots: list[tuple[str, Path]] = []
    for origin, path in (("local", Path.cwd() / folder), ("packaged", packaged_folder(folder))):
        if path.is_dir() and all(path.resolve() != seen.resolve() for _, seen in roots):
            roots.append((origin, path))
    return roots


def available_suites(folder: str) -> dict[str, tuple[str, Path]]:
    """Every suite name of ``folder`` with the origin and file that :func:`find_file` picks for it."""
    found: dict[str, tuple[str, Path]] = {}
    for origin, root in suite_roots(folder):
        for path in sorted(root.glob("*.toml")):
            found.setdefault(path.stem, (origin, path))
    return found


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"Suite file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read: {err}") from None


def reject_unknown_keys(path: Path, table: dict, allowed: dict, where: str) -> None:
    for key in table:
        if key not in allowed:
            listing = "; ".join(f"{k} ({v})" for k, v in allowed.items())
            raise ConfigError(f"{path}: unknown key {key!r} in {where}. Allowed keys: {listing}.")


def bad_value(path: Path, where: str, key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{path}: {where} key {key!r} has the bad value {value!r}; allowed: {allowed}.")


def integer_value(path, where, key, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_value(path, where, key, value, f"an integer >= {minimum}")
    return value


def positive_value(path, where, key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise bad_value(path, where, key, value, "a number > 0")
    return float(value)


def find_file(name_or_path: str, folder: str) -> Path:
    """Resolve a suite given by path or by name (``./<folder>/<name>.toml`` first, then robustkit's own)."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    found = available_suites(folder)
    if name_or_path in found:
        return found[name_or_path][1]
    raise ConfigError(
        f"No suite named {name_or_path!r} in {folder}/; available: {', '.join(sorted(found)) or 'none'}. "
        "Give a .toml path, or run `robustkit suites` to see where suites are looked up."
    )


def string_list(path, key, value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise bad_value(path, "top-level", key, value, "a non-empty list of strings")
    return value


def bounds_value(path: Path, bounds: Any, allowed: str) -> tuple[Any, Any] | None:
    """``bounds = [lower, upper]`` of a suite file, each side a number or (nested) list, or None."""
    if bounds is None:
        return None
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise bad_value(path, "top-level", "bounds", bounds, allowed)
    try:
        lower, upper = validate_bounds(bounds)
    except (ConfigError, ValueError):
        raise bad_value(path, "top-level", "bounds", bounds, "[lower, upper], finite, with lower < upper") from None
    return (float(lower) if lower.ndim == 0 else lower.tolist(), float(upper) if upper.ndim == 0 else upper.tolist())


def number_grid(path: Path, where: str, key: str, value: Any, allowed: str, minimum: float) -> tuple[float, ...]:
    """A number or list of distinct finite numbers >= ``minimum`` (> 0 when ``minimum`` is), sorted."""
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v >= minimum for v in values
    ):
        raise bad_value(path, where, key, value, allowed)
    if minimum > 0 and any(v == 0 for v in values):
        raise bad_value(path, where, key, value, allowed)
    if len(set(values)) != len(values):
        raise bad_value(path, where, key, value, "distinct numbers")
    return tuple(sorted(float(v) for v in values))


def eps_grid(path: Path, data: dict, keys: dict[str, str]) -> tuple[tuple[Eps, ...], Eps | None]:
    """A suite file's eps grid and headline eps: numbers in input units, or fractions of the input range, written
    ``"8/255"`` or, under ``eps_unit = "range"``, as plain numbers (0.1 of the range)."""
    raw = data.get("eps")
    if not isinstance(raw, list) or not raw:
        raise bad_value(path, "top-level", "eps", raw, keys["eps"])
    unit = data.get("eps_unit", "input")
    if unit not in ("input", "range"):
        raise bad_value(path, "top-level", "eps_unit", unit, EPS_UNIT_KEY)

    def parsed(value: Any, key: str) -> Eps:
        try:
            return as_fraction_of_range(value) if unit == "range" else parse_eps(value)
        except ConfigError:
            raise bad_value(path, "top-level", key, value, "numbers >= 0 or fractions like '8/255'") from None

    eps = tuple(parsed(value, "eps") for value in raw)
    if len(set(eps)) != len(eps):
        raise bad_value(path, "top-level", "eps", raw, "distinct numbers")
    headline = data.get("headline_eps")
    if headline is not None:
        headline = parsed(headline, "headline_eps")
        if headline not in eps:
            raise bad_value(path, "top-level", "headline_eps", data["headline_eps"], f"one of eps = {raw}")
    return eps, headline


EPS_UNIT_KEY = "'input' (eps in input units, the default) or 'range' (each eps a fraction of the input range)"

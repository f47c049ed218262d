"""Certification suites as data (``attacks/*.toml`` with a ``[smoothing]`` table): guarantees at a radius grid.

A certification suite names a norm, a grid of radii at which to report certified accuracy, and
how to certify: randomized smoothing (:mod:`robustkit.certify.smoothing`) at one or more noise
levels::

    name = "smoothing-l2"
    norm = "l2"                       # or "linf": the L2 certificate over sqrt(dimension)
    eps_unit = "range"                # sigma and radius as fractions of the input range (x 255 on pixels)
    radius = [0.0, 0.25, 0.5, 0.75, 1.0]

    [smoothing]
    sigma = [0.25, 0.5]               # each sigma is its own smoothed classifier
    n0 = 100
    n = 10000
    alpha = 0.001

It sits beside the attack suites and a benchmark suite lists it among them (``attacks = ["l2",
"smoothing-l2"]``); :func:`~robustkit.evaluation.verification_suites.load_evaluation_suite` tells
the kinds apart by the ``[smoothing]`` table.

Example:
    >>> from robustkit.evaluation.suite_files import find_file, read_toml
    >>> path = find_file("smoothing-l2", "attacks")
    >>> suite = load_certification_suite(path, read_toml(path))
    >>> suite.kind, suite.sigma, suite.radius[:3]
    ('smoothing', (0.25, 0.5), (0.0, 0.25, 0.5))
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from robustkit.errors import ConfigError
from robustkit.evaluation.results import CertificationSuiteConfig
from robustkit.evaluation.suite_files import (
    bad_value,
    bounds_value,
    integer_value,
    number_grid,
    reject_unknown_keys,
)
from robustkit.ranges import range_width

CERTIFIED_NORMS = ("l2", "linf")
CERTIFICATION_SUITE_KEYS = {
    "name": "the suite's name",
    "description": "free text",
    "norm": "'l2' (the certificate's own norm) or 'linf' (the L2 radius over sqrt(dimension): loose)",
    "radius": "radii at which certified accuracy is reported, in input units (numbers >= 0)",
    "eps_unit": "'input' (sigma and radius in input units, the default) or 'range' (fractions of the input range)",
    "headline_radius": "the radius the report's summary shows (one of radius; default the grid's middle)",
    "bounds": "[lower, upper] the model reads (the attack that checks the certificates stays inside them)",
    "smoothing": "a table: sigma, n0, n, alpha, batch_size",
}
SMOOTHING_KEYS = {
    "sigma": "the noise's standard deviation in input units: a number > 0 or a list of them",
    "n0": "noisy samples that choose the top class (integer >= 1, default 100)",
    "n": "noisy samples that bound its probability (integer >= 1, default 100000)",
    "alpha": "the chance that a certificate is wrong, in (0, 1) (default 0.001)",
    "batch_size": "noisy inputs per forward pass (integer >= 1, default 1000): memory is bounded by it",
}


@dataclass(frozen=True)
class CertificationSuite:
    """Randomized smoothing at each ``sigma``, its certified accuracy reported at each ``radius``."""

    name: str
    norm: str
    radius: tuple[float, ...]
    sigma: tuple[float, ...]
    n0: int = 100
    n: int = 100_000
    alpha: float = 0.001
    batch_size: int = 1000
    bounds: tuple[Any, Any] | None = None
    headline_radius: float | None = None
    description: str = ""
    path: str = ""
    kind: str = "smoothing"
    in_range: bool = False  # sigma and radius are fractions of the input range until :meth:`resolved`
    sigma_written: tuple[str, ...] = ()  # each sigma as the suite wrote it, once resolved from fractions

    def resolved(self, bounds: Any) -> CertificationSuite:
        """This suite with sigma and radius in input units, for inputs in ``bounds`` (fractions of the range
        scaled by its width).

        Example:
            >>> suite = CertificationSuite("s", "l2", (0.0, 0.5), (0.25,), in_range=True).resolved((0.0, 255.0))
            >>> suite.sigma, suite.radius, suite.sigma_labels()
            ((63.75,), (0.0, 127.5), ('0.25',))
        """
        if not self.in_range:
            return self
        width = range_width(bounds)
        headline = None if self.headline_radius is None else self.headline_radius * width
        return replace(
            self,
            radius=tuple(r * width for r in self.radius),
            sigma=tuple(s * width for s in self.sigma),
            headline_radius=headline,
            in_range=False,
            sigma_written=self.sigma_labels(),
        )

    def sigma_labels(self) -> tuple[str, ...]:
        """Each sigma as the suite wrote it (the same before and after :meth:`resolved`): names its tasks."""
        return self.sigma_written or tuple(f"{s:g}" for s in self.sigma)

    def config(self) -> CertificationSuiteConfig:
        if self.in_range:
            raise ConfigError(f"Certification suite {self.name!r} writes sigma and radius as fractions: resolve it.")
        config: CertificationSuiteConfig = {
            "name": self.name,
            "kind": self.kind,
            "norm": self.norm,
            "radius": list(self.radius),
            "sigma": list(self.sigma),
            "n0": self.n0,
            "n": self.n,
            "alpha": self.alpha,
            "batch_size": self.batch_size,
            "bounds": None if self.bounds is None else [self.bounds[0], self.bounds[1]],
        }
        if self.headline_radius is not None:
            config["headline_radius"] = self.headline_radius
        if self.sigma_written:
            config["sigma_written"] = list(self.sigma_written)
        return config

    def cell_key(self, sigma: float) -> dict:
        """What one sigma's certificates depend on (the radius grid only changes what is shown)."""
        return {"kind": self.kind, "sigma": sigma, "n0": self.n0, "n": self.n, "alpha": self.alpha}


def _smoothing(path: Path, table: Any) -> dict:
    if not isinstance(table, dict):
        raise bad_value(path, "top-level", "smoothing", table, CERTIFICATION_SUITE_KEYS["smoothing"])
    reject_unknown_keys(path, table, SMOOTHING_KEYS, "[smoothing]")
    if "sigma" not in table:
        raise ConfigError(f"{path}: [smoothing] needs sigma (the noise's standard deviation, in input units).")
    alpha = table.get("alpha", 0.001)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise bad_value(path, "[smoothing]", "alpha", alpha, SMOOTHING_KEYS["alpha"])
    return {
        "sigma": number_grid(path, "[smoothing]", "sigma", table["sigma"], SMOOTHING_KEYS["sigma"], 1e-300),
        "n0": integer_value(path, "[smoothing]", "n0", table.get("n0", 100), 1),
        "n": integer_value(path, "[smoothing]", "n", table.get("n", 100_000), 1),
        "alpha": float(alpha),
        "batch_size": integer_value(path, "[smoothing]", "batch_size", table.get("batch_size", 1000), 1),
    }


def load_certification_suite(path: Path, data: dict) -> CertificationSuite:
    """A certification suite from a suite file's parsed TOML (see the module docstring)."""
    reject_unknown_keys(path, data, CERTIFICATION_SUITE_KEYS, "the top level")
    norm = str(data.get("norm", "l2")).lower()
    if norm not in CERTIFIED_NORMS:
        raise bad_value(path, "top-level", "norm", data.get("norm"), CERTIFICATION_SUITE_KEYS["norm"])
    if "radius" not in data:
        raise ConfigError(f"{path}: needs radius = [...], the radii at which to report certified accuracy.")
    radius = number_grid(path, "top-level", "radius", data["radius"], CERTIFICATION_SUITE_KEYS["radius"], 0.0)
    headline = data.get("headline_radius")
    if headline is not None and (isinstance(headline, bool) or headline not in radius):
        raise bad_value(path, "top-level", "headline_radius", headline, f"one of radius = {list(radius)}")
    unit = data.get("eps_unit", "input")
    if unit not in ("input", "range"):
        raise bad_value(path, "top-level", "eps_unit", unit, CERTIFICATION_SUITE_KEYS["eps_unit"])
    return CertificationSuite(
        str(data.get("name", path.stem)),
        norm,
        radius,
        bounds=bounds_value(path, data.get("bounds"), CERTIFICATION_SUITE_KEYS["bounds"]),
        headline_radius=None if headline is None else float(headline),
        description=str(data.get("description", "")),
        path=str(path),
        in_range=unit == "range",
        **_smoothing(path, data["smoothing"]),
    )

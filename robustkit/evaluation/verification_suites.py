"""Verification suites as data (``attacks/*.toml`` with a ``[verification]`` table): proofs at an eps grid.

A verification suite names a norm and an eps grid, like an attack suite, and how to prove that no
input in the ball changes the prediction: sound bounds (:func:`robustkit.verify.margin_bounds`,
interval or linear bound propagation) and, for the L-inf ball, a complete verifier on what the
bounds leave undecided, with a time limit per example: branch and bound with beta-CROWN
(:func:`robustkit.verify.verify_specification`) or a mixed-integer program
(:func:`robustkit.verify.exact_verify`)::

    name = "verify-linf"
    norm = "linf"
    eps_unit = "range"               # eps as fractions of the input range (on [0, 255] data: 2.55 ...)
    eps = [0.01, 0.03, 0.05, 0.1]
    headline_eps = 0.05

    [verification]
    bounds = "best"                  # "ibp", "crown", "alpha-crown" or "best" (the tightest per margin)
    exact = true                     # decide the undecided examples exactly (L-inf only)
    complete = "bab"                 # by branch and bound ("bab") or the mixed-integer program ("milp")
    time_limit = 1.0                 # seconds per example and eps for the complete verifier
    batch_size = 32                  # examples bounded together by CROWN

A benchmark suite lists it among its evaluation suites (``attacks = ["linf", "verify-linf"]``);
the report puts its proved accuracy under the attacked one of the same norm and eps.

Example:
    >>> suite = load_evaluation_suite("verify-linf")
    >>> suite.kind, suite.norm, suite.bounds_method, suite.exact, suite.resolved((0.0, 255.0)).eps
    ('verification', 'linf', 'best', True, (2.55, 7.65, 12.75, 25.5))
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from robustkit.errors import ConfigError
from robustkit.evaluation.attack_suites import AttackSuite, load_attack_suite
from robustkit.evaluation.certification_suites import CertificationSuite, load_certification_suite
from robustkit.evaluation.corruption_suites import CorruptionSuite, load_corruption_suite
from robustkit.evaluation.results import VerificationSuiteConfig
from robustkit.evaluation.suite_files import (
    EPS_UNIT_KEY,
    bad_value,
    bounds_value,
    eps_grid,
    find_file,
    integer_value,
    positive_value,
    read_toml,
    reject_unknown_keys,
)
from robustkit.ranges import Eps, eps_label, resolved_grid

VERIFIED_NORMS = ("linf", "l2", "l1")
BOUND_METHODS = ("ibp", "crown", "alpha-crown", "best")
COMPLETE_VERIFIERS = ("bab", "milp")
VERIFICATION_SUITE_KEYS = {
    "name": "the suite's name",
    "description": "free text",
    "norm": "'linf', 'l2' or 'l1': the ball in which every input must keep the prediction",
    "eps": 'the balls\' radii: numbers >= 0 in input units, or fractions of the input range like "8/255"',
    "eps_unit": EPS_UNIT_KEY,
    "headline_eps": "the eps the report's summary shows (one of eps; default the grid's middle)",
    "bounds": "[lower, upper] the model reads (the ball is intersected with them)",
    "verification": "a table: bounds, exact, complete, time_limit, batch_size",
}
VERIFICATION_KEYS = {
    "bounds": "'ibp', 'crown', 'alpha-crown' or 'best' (the tightest bound per margin; default)",
    "exact": "true to decide what the bounds leave undecided with a complete verifier (L-inf only; default false)",
    "complete": "'bab' (branch and bound; implies exact = true) or 'milp' (the mixed-integer program; default)",
    "time_limit": "seconds per example and eps for the complete verifier, > 0 (default 1)",
    "batch_size": "examples bounded together by CROWN (integer >= 1, default 32): its memory grows with it",
}


@dataclass(frozen=True)
class VerificationSuite:
    """Sound bounds (and the exact verifier) at each ``eps`` of a ``norm`` ball."""

    name: str
    norm: str
    eps: tuple[Eps, ...]  # in input units once resolved (fractions of the range until then)
    bounds_method: str = "best"
    exact: bool = False
    complete: str = "milp"
    time_limit: float = 1.0
    batch_size: int = 32
    bounds: tuple[Any, Any] | None = None
    headline_eps: Eps | None = None
    description: str = ""
    path: str = ""
    kind: str = "verification"
    eps_written: tuple[str, ...] = ()

    def resolved(self, bounds: Any) -> VerificationSuite:
        """This suite with every eps in input units, for inputs in ``bounds`` (fractions of the range scaled)."""
        if not any(isinstance(e, Fraction) for e in self.eps):
            return self
        eps, written, headline = resolved_grid(self.eps, self.headline_eps, bounds)
        return replace(self, eps=eps, eps_written=written, headline_eps=headline)

    def eps_labels(self) -> tuple[str, ...]:
        """Each eps as the suite wrote it (the same before and after :meth:`resolved`): names its cells' tasks."""
        return self.eps_written or tuple(eps_label(e) for e in self.eps)

    def input_eps(self) -> tuple[float, ...]:
        """The grid in input units (once :meth:`resolved`)."""
        if any(isinstance(e, Fraction) for e in self.eps):
            raise ConfigError(f"Verification suite {self.name!r} writes eps as fractions of the range: resolve it.")
        return tuple(float(e) for e in self.eps)

    def config(self) -> VerificationSuiteConfig:
        if any(isinstance(e, Fraction) for e in self.eps):
            raise ConfigError(f"Verification suite {self.name!r} writes eps as fractions of the range: resolve it.")
        config: VerificationSuiteConfig = {
            "name": self.name,
            "kind": self.kind,
            "norm": self.norm,
            "eps": [float(e) for e in self.eps],
            "method": self.bounds_method,
            "exact": self.exact,
            "complete": self.complete,
            "time_limit": self.time_limit,
            "batch_size": self.batch_size,
            "bounds": None if self.bounds is None else [self.bounds[0], self.bounds[1]],
        }
        if self.headline_eps is not None:
            config["headline_eps"] = float(self.headline_eps)
        if self.eps_written:
            config["eps_written"] = list(self.eps_written)
        return config

    def cell_key(self, eps: float) -> dict:
        """What one eps's answers depend on (the batch size only changes memory, not the bounds)."""
        return {"kind": self.kind, "norm": self.norm, "eps": eps, "method": self.bounds_method,
                "exact": self.exact, "time_limit": self.time_limit if self.exact else None,
                **({"complete": self.complete} if self.exact and self.complete != "milp" else {})}  # fmt: skip


def _verification(path: Path, table: Any, norm: str) -> dict:
    if not isinstance(table, dict):
        raise bad_value(path, "top-level", "verification", table, VERIFICATION_SUITE_KEYS["verification"])
    reject_unknown_keys(path, table, VERIFICATION_KEYS, "[verification]")
    method = table.get("bounds", "best")
    if method not in BOUND_METHODS:
        raise bad_value(path, "[verification]", "bounds", method, VERIFICATION_KEYS["bounds"])
    complete = table.get("complete", "milp")
    if complete not in COMPLETE_VERIFIERS:
        raise bad_value(path, "[verification]", "complete", complete, VERIFICATION_KEYS["complete"])
    exact = table.get("exact", complete == "bab")
    if not isinstance(exact, bool):
        raise bad_value(path, "[verification]", "exact", exact, "true or false")
    if exact and norm != "linf":
        raise ConfigError(
            f"{path}: [verification] exact = true needs norm = 'linf' (the exact verifier's program is linear "
            f"only over an L-inf ball); this suite's norm is {norm!r}. Set exact = false: the bounds still apply."
        )
    return {
        "bounds_method": str(method),
        "exact": exact,
        "complete": str(complete),
        "time_limit": positive_value(path, "[verification]", "time_limit", table.get("time_limit", 1.0)),
        "batch_size": integer_value(path, "[verification]", "batch_size", table.get("batch_size", 32), 1),
    }


def load_verification_suite(path: Path, data: dict) -> VerificationSuite:
    """A verification suite from a suite file's parsed TOML (see the module docstring)."""
    reject_unknown_keys(path, data, VERIFICATION_SUITE_KEYS, "the top level")
    norm = str(data.get("norm", "linf")).lower()
    if norm not in VERIFIED_NORMS:
        raise bad_value(path, "top-level", "norm", data.get("norm"), VERIFICATION_SUITE_KEYS["norm"])
    if "eps" not in data:
        raise ConfigError(f"{path}: needs eps = [...], the radii of the balls to verify.")
    eps, headline = eps_grid(path, data, VERIFICATION_SUITE_KEYS)
    return VerificationSuite(
        str(data.get("name", path.stem)),
        norm,
        tuple(sorted(eps)),
        bounds=bounds_value(path, data.get("bounds"), VERIFICATION_SUITE_KEYS["bounds"]),
        headline_eps=headline,
        description=str(data.get("description", "")),
        path=str(path),
        **_verification(path, data["verification"], norm),
    )


EvaluationSuite = AttackSuite | CertificationSuite | VerificationSuite | CorruptionSuite


def load_evaluation_suite(name_or_path: str) -> EvaluationSuite:
    """An attack suite, a certification suite (a ``[smoothing]`` table), a verification suite (a
    ``[verification]`` table) or a corruption suite (a ``[corruptions]`` table)."""
    path = find_file(name_or_path, "attacks")
    data = read_toml(path)
    tables = [t for t in ("smoothing", "verification", "corruptions") if t in data]
    if len(tables) > 1:
        raise ConfigError(
            f"{path}: a suite is one kind: certification ([smoothing]), verification ([verification]) or "
            f"corruption ([corruptions]); this one has {', '.join(f'[{t}]' for t in tables)}."
        )
    if "corruptions" in data:
        return load_corruption_suite(path, data)
    if "smoothing" in data:
        return load_certification_suite(path, data)
    if "verification" in data:
        return load_verification_suite(path, data)
    return load_attack_suite(str(path))


def split_suites(
    suites: list[EvaluationSuite],
) -> tuple[list[AttackSuite], list[CertificationSuite], list[VerificationSuite], list[CorruptionSuite]]:
    """Attack, certification, verification and corruption suites, each in the order given; names must be
    distinct."""
    names = [s.name for s in suites]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"Suite names must be distinct within a benchmark; {', '.join(repeated)} repeat.")
    return (
        [s for s in suites if isinstance(s, AttackSuite)],
        [s for s in suites if isinstance(s, CertificationSuite)],
        [s for s in suites if isinstance(s, VerificationSuite)],
        [s for s in suites if isinstance(s, CorruptionSuite)],
    )

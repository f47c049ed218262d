"""The declared schema of ``results.json``: what a benchmark run writes and everything else reads.

One module defines it (its types in :mod:`robustkit.evaluation.results_schema`). The runner builds a
:class:`Results`; the report, the gate and the trust checks read it through :func:`read_results` and
these types, never by guessing keys. The ``format`` field names the version
(:mod:`robustkit.evaluation.results_versions` says what each version changed, and upgrades older
ones). Per-example data (labels, predictions, the eps at which each example broke, which attack
broke it, norms, work) stays out of ``results.json``, in the columnar file ``examples.npz`` beside
it, so the JSON stays small at any data size. :func:`read_results` reads every version and upgrades
it; in memory, per-example fields are numpy arrays (NaN where an example never broke).

Example:
    >>> RESULTS_FORMAT, middle_eps([0.1, 0.2, 0.5])
    ('robustkit-results/7', 0.2)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robustkit.errors import DataError
from robustkit.evaluation.results_columns import broken_at, with_examples
from robustkit.evaluation.results_schema import (
    CERTIFIED_COLUMNS,
    REQUIRED_KEYS,
    SUMMARY_COLUMNS,
    AttackRecord,
    AttackSuiteConfig,
    CertificateRecord,
    CertificationSuiteConfig,
    CertifiedRow,
    CheckRecord,
    ContributionRow,
    CorruptionRecord,
    CorruptionSample,
    CorruptionSuiteConfig,
    DataInfo,
    Environment,
    ModelExamples,
    ModelInfo,
    Results,
    RunInfo,
    Sample,
    SuiteConfig,
    SummaryRow,
    VerificationRecord,
    VerificationSuiteConfig,
)
from robustkit.evaluation.results_versions import (
    CERTIFICATE_FIELDS,
    COLUMNAR_FORMATS,
    MISCLASSIFIED,
    PER_EXAMPLE,
    PER_EXAMPLE_FIELDS,
    PROVED,
    PROVED_EXACT,
    READABLE_FORMATS,
    REFUTED,
    RESULTS_FORMAT,
    STATUS,
    UNKNOWN,
    VERIFICATION_FIELDS,
    as_floats,
    upgrade,
)

__all__ = [
    "RESULTS_FORMAT",
    "READABLE_FORMATS",
    "PER_EXAMPLE",
    "PER_EXAMPLE_FIELDS",
    "CERTIFICATE_FIELDS",
    "VERIFICATION_FIELDS",
    "STATUS",
    "UNKNOWN",
    "PROVED",
    "PROVED_EXACT",
    "REFUTED",
    "MISCLASSIFIED",
    "as_floats",
    "upgrade",
    "broken_at",
    "Environment",
    "AttackSuiteConfig",
    "CertificationSuiteConfig",
    "VerificationSuiteConfig",
    "CorruptionSuiteConfig",
    "SuiteConfig",
    "DataInfo",
    "ModelInfo",
    "AttackRecord",
    "CertificateRecord",
    "VerificationRecord",
    "CorruptionRecord",
    "ModelExamples",
    "Sample",
    "CheckRecord",
    "SummaryRow",
    "CertifiedRow",
    "RunInfo",
    "ContributionRow",
    "CorruptionSample",
    "Results",
    "SUMMARY_COLUMNS",
    "CERTIFIED_COLUMNS",
    "REQUIRED_KEYS",
]  # declared in results_versions and results_schema, read here


def middle_eps(grid: Any) -> float:
    """The middle value of an eps grid (of the two middle ones, the larger): the one rule for it.

    Example:
        >>> middle_eps([0.2, 0.1, 0.5]), middle_eps([0.01, 0.05, 0.1, 0.2])
        (0.2, 0.1)
    """
    ordered = sorted(float(e) for e in grid)
    return ordered[len(ordered) // 2]


def headline_eps(attack_suite: AttackSuiteConfig) -> float:
    """The eps the report's summary shows: the one a suite names, else the grid's middle value.

    Example:
        >>> headline_eps({"eps": [0.1, 0.2, 0.3], "headline_eps": 0.3}), headline_eps({"eps": [0.1, 0.2, 0.3]})
        (0.3, 0.2)
    """
    if "headline_eps" in attack_suite:
        return float(attack_suite["headline_eps"])
    return middle_eps(attack_suite["eps"])


def read_results(path: str | Path) -> Results:
    """Read a ``results.json`` written by robustkit (any readable version), as the current version."""
    try:
        results = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"Results file {str(path)!r} does not exist.") from None
    except (OSError, ValueError) as err:
        raise DataError(f"Could not read {str(path)!r} as robustkit results: {err}") from None
    if not isinstance(results, dict) or results.get("format") not in READABLE_FORMATS:
        found = results.get("format") if isinstance(results, dict) else type(results).__name__
        raise DataError(
            f"{str(path)!r} is not a robustkit results.json this version reads (format {found!r}; "
            f"readable: {', '.join(READABLE_FORMATS)})."
        )
    missing = [key for key in REQUIRED_KEYS if key not in results]
    if missing:
        raise DataError(
            f"{str(path)!r} lacks {', '.join(missing)}: it was not written completely; run the benchmark again."
        )
    if results["format"] in COLUMNAR_FORMATS:
        results = with_examples(results, Path(path).parent, Path(path))
    return upgrade(results)

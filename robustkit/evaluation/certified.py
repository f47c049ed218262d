"""Tables of certification suites: certified accuracy per (model, certification suite, sigma, radius).

A certified accuracy is a lower bound on the robust accuracy of the *smoothed* classifier (another
classifier than the model the attacks attack), so these rows stand beside the attack rows and are
never folded into their worst case. Everything here reads a
:class:`~robustkit.evaluation.results.Results`, so a report can be rebuilt from ``results.json``.

Example:
    >>> record = {"prediction": np.array([0, 1, -1]), "radius": np.array([0.6, 0.2, 0.0]), "sigma": 0.25,
    ...           "dimension": 4, "seconds": 1.0}
    >>> suite = {"name": "s", "norm": "l2", "radius": [0.0, 0.5]}
    >>> [r["certified_accuracy"] for r in suite_rows("m", suite, {"sigma=0.25": record}, np.array([0, 1, 2]))]
    [0.6666666666666666, 0.3333333333333333]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from robustkit.certify import ABSTAIN
from robustkit.evaluation.results import (
    CERTIFIED_COLUMNS,
    CertificationSuiteConfig,
    CertifiedRow,
    Results,
    middle_eps,
)
from robustkit.stats import wilson_interval


def radius_in_norm(record: Any, norm: str) -> np.ndarray:
    """Per example, the certified radius in the suite's norm: L2 as certified, L-inf over sqrt(dimension)."""
    radius = np.asarray(record["radius"], np.float64)
    return radius / math.sqrt(record["dimension"]) if norm == "linf" else radius


def suite_rows(
    model: str, suite: CertificationSuiteConfig, records: dict[str, Any], labels: np.ndarray
) -> list[CertifiedRow]:
    """One row per sigma and radius of one certification suite on one model."""
    rows: list[CertifiedRow] = []
    n = len(labels)
    for record in records.values():
        prediction = np.asarray(record["prediction"])
        correct = prediction == labels
        radius = radius_in_norm(record, suite["norm"])
        for r in suite["radius"]:
            k = int(np.sum(correct & (radius >= r)))
            low, high = wilson_interval(k, n)
            rows.append(
                {
                    "model": model,
                    "certification_suite": suite["name"],
                    "norm": suite["norm"],
                    "sigma": float(record["sigma"]),
                    "radius": float(r),
                    "n": n,
                    "smoothed_accuracy": float(correct.mean()) if n else math.nan,
                    "abstain_rate": float(np.mean(prediction == ABSTAIN)) if n else math.nan,
                    "certified_accuracy": k / n if n else math.nan,
                    "certified_accuracy_low": low,
                    "certified_accuracy_high": high,
                    "seconds": float(record["seconds"]),
                }
            )
    return rows


def certified_rows(results: Results) -> list[CertifiedRow]:
    """Every certification suite's rows, for every model."""
    labels = np.asarray(results["data"]["labels"])
    rows: list[CertifiedRow] = []
    for model, per_model in results["examples"].items():
        for suite in results["suite"].get("certification_suites", []):
            records = per_model.get("certification_suites", {}).get(suite["name"], {})
            rows += suite_rows(model, suite, records, labels)
    return rows


def certified_table(results: Results) -> pd.DataFrame:
    """:func:`certified_rows` as a table."""
    return pd.DataFrame(certified_rows(results), columns=CERTIFIED_COLUMNS)


def headline_radius(suite: CertificationSuiteConfig) -> float:
    """The radius the report's summary shows: the one a suite names, else the grid's middle value.

    Example:
        >>> grid = [0.0, 0.25, 0.5, 0.75]
        >>> headline_radius({"radius": grid}), headline_radius({"radius": [0, 1], "headline_radius": 1.0})
        (0.5, 1.0)
    """
    if "headline_radius" in suite:
        return suite["headline_radius"]
    return middle_eps(suite["radius"])

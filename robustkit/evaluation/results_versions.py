"""The versions of ``results.json``, and bringing any readable one to the current version.

* Version 1 named an attack suite ``threat``.
* Version 2 named it ``attack_suite`` (``threat`` is now the norm ball and eps an attacker may use).
* Version 3 moved per-example data to the columnar file ``examples.npz`` beside ``results.json``.
* Version 4 gave the rows of ``contributions`` fixed keys: the counts per attack sit under
  ``broken_first``, so no attack's name can collide with a column's.
* Version 5 added certification suites: ``suite.certification_suites``, each model's
  ``certification_suites`` (per-example certificates) and the ``certified`` rows; older results
  have none.
* Version 6 added verification suites: ``suite.verification_suites``, each model's
  ``verification_suites`` (per-example status and margin at each eps), their rows in the summary,
  and the summary's ``bound`` column ("upper" for attacks, "lower" for proofs); older summaries'
  rows are all attacks' ("upper").
* Version 7 added corruption suites: ``suite.corruption_suites``, each model's
  ``corruption_suites`` (per-example predictions at each severity), their rows in the summary
  (``bound`` "measured"), and the summary's ``corruption`` and ``severity`` columns ("" and 0 on
  every other row).

Example:
    >>> old = {"format": "robustkit-results/1", "suite": {"threat_models": []}, "examples": {},
    ...        "samples": [{"threat": "linf"}], "summary": [{"threat": "linf", "eps": 0.1}]}
    >>> new = upgrade(old)
    >>> new["format"], new["summary"][0]["attack_suite"], new["suite"]["attack_suites"], "threat" in old["samples"][0]
    ('robustkit-results/7', 'linf', [], True)
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

RESULTS_FORMAT = "robustkit-results/7"
COLUMNAR_FORMATS = (
    "robustkit-results/3",
    "robustkit-results/4",
    "robustkit-results/5",
    "robustkit-results/6",
    RESULTS_FORMAT,
)  # per-example data in examples.npz
READABLE_FORMATS = ("robustkit-results/1", "robustkit-results/2", *COLUMNAR_FORMATS)
PER_EXAMPLE = ("broken_eps", "adv_pred", "norm", "grad_evals")  # an AttackRecord's per-example fields
CERTIFICATE_FIELDS = ("prediction", "radius", "p_lower")  # a CertificateRecord's per-example fields
VERIFICATION_FIELDS = ("status", "margin")  # a VerificationRecord's per-example fields (a column per eps)
CORRUPTION_FIELDS = ("prediction",)  # a CorruptionRecord's per-example fields (a column per severity)
# A verification record's status codes: what was found for one example at one eps.
UNKNOWN, PROVED, PROVED_EXACT, REFUTED, MISCLASSIFIED = range(5)
STATUS = {
    UNKNOWN: "unknown",
    PROVED: "proved by the bounds",
    PROVED_EXACT: "proved exactly",
    REFUTED: "refuted",
    MISCLASSIFIED: "misclassified",
}
# Each kind of evaluation's records in a model's examples, and their per-example fields:
PER_EXAMPLE_FIELDS = {
    "attack_suites": PER_EXAMPLE,
    "certification_suites": CERTIFICATE_FIELDS,
    "verification_suites": VERIFICATION_FIELDS,
    "corruption_suites": CORRUPTION_FIELDS,
}
CONTRIBUTION_KEYS = {"model": "model", "attack suite": "attack_suite", "eps": "eps", "still robust": "still_robust"}


def as_floats(values: Any) -> np.ndarray:
    """Per-example floats as an array, NaN where a JSON list (versions 1 and 2) said None.

    Example:
        >>> as_floats([0.1, None]).tolist(), as_floats(np.array([2.0])).tolist()
        ([0.1, nan], [2.0])
    """
    if isinstance(values, list):
        return np.array([np.nan if v is None else v for v in values], float)
    return np.asarray(values, float)


def _renamed(table: dict, old: str, new: str) -> dict:
    return {new if key == old else key: value for key, value in table.items()}


def _as_arrays(results: dict) -> None:
    """Per-example lists of JSON (versions 1 and 2) as numpy arrays, None as NaN."""
    data = results.get("data", {})
    if isinstance(data.get("labels"), list):
        data["labels"] = np.asarray(data["labels"], np.int64)
    for per_model in results.get("examples", {}).values():
        if isinstance(per_model.get("clean_pred"), list):
            per_model["clean_pred"] = np.asarray(per_model["clean_pred"], np.int64)
        for per_suite in per_model.get("attack_suites", {}).values():
            for record in per_suite.values():
                for field in PER_EXAMPLE:
                    if isinstance(record.get(field), list):
                        floats = as_floats(record[field])
                        record[field] = floats if field in ("broken_eps", "norm") else floats.astype(np.int64)


def _contribution_row(row: dict) -> dict:
    """A version-3 contribution row (counts beside the display columns) with version 4's keys."""
    fixed = {new: row[old] for old, new in CONTRIBUTION_KEYS.items() if old in row}
    fixed["broken_first"] = {k: v for k, v in row.items() if k not in CONTRIBUTION_KEYS}
    return fixed


def upgrade(results: dict) -> Any:
    """A copy of a results dictionary of any readable version, brought to the current one."""
    results = copy.deepcopy(results)
    if results.get("format") in ("robustkit-results/1", "robustkit-results/2", "robustkit-results/3"):
        results["contributions"] = [_contribution_row(r) for r in results.get("contributions", [])]
    if results.get("format") == "robustkit-results/1":
        results = dict(results, format="robustkit-results/2")
        results["suite"] = _renamed(results.get("suite", {}), "threat_models", "attack_suites")
        results["examples"] = {
            m: _renamed(e, "threats", "attack_suites") for m, e in results.get("examples", {}).items()
        }
        results["samples"] = [_renamed(s, "threat", "attack_suite") for s in results.get("samples", [])]
        results["summary"] = [_renamed(r, "threat", "attack_suite") for r in results.get("summary", [])]
    for per_model in results.get("examples", {}).values():
        for per_suite in per_model.get("attack_suites", {}).values():
            for record in per_suite.values():
                record.setdefault("no_gradient", False)  # every attack ran before version 2 said otherwise
    for row in results.get("summary", []):
        row.setdefault("bound", "upper")  # before version 6 every row was an attack's
        row.setdefault("corruption", "")  # before version 7 no row was a corruption's
        row.setdefault("severity", 0)
    _as_arrays(results)
    results["format"] = RESULTS_FORMAT
    return results

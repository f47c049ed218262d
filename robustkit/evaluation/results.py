"""The declared schema of ``results.json``: what a benchmark run writes and everything else reads.

One module defines it. The runner builds a :class:`Results`; the report, the gate and the
trust checks read it through :func:`read_results` and these types, never by guessing keys. The
``format`` field names the version. Version 2 names each attack suite's rows ``attack_suite``
(version 1 said ``threat``, a word now kept for the norm-ball-and-eps the attacker may use);
:func:`read_results` still reads version 1 files and upgrades them.

Example:
    >>> old = {"format": "robustkit-results/1", "suite": {"threat_models": []}, "examples": {},
    ...        "samples": [{"threat": "linf"}], "summary": [{"threat": "linf", "eps": 0.1}]}
    >>> new = upgrade(old)
    >>> new["format"], new["summary"][0]["attack_suite"], new["suite"]["attack_suites"]
    ('robustkit-results/2', 'linf', [])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

from robustkit.errors import DataError

RESULTS_FORMAT = "robustkit-results/2"
READABLE_FORMATS = ("robustkit-results/1", RESULTS_FORMAT)


class Environment(TypedDict):
    robustkit: str
    tensorflow: str
    keras: str
    numpy: str
    pandas: str
    python: str
    platform: str


class _AttackSuiteOptional(TypedDict, total=False):
    eps_written: list[str]  # eps as written, when given as fractions of the input range ("8/255")
    headline_eps: float  # the eps the report's summary shows, when the suite names one


class AttackSuiteConfig(_AttackSuiteOptional):
    name: str
    norm: str  # "linf", "l2" or "l1"
    eps: list[float]  # in input units
    bounds: list[Any] | None  # [lower, upper] as declared in the file; each a number or nested lists
    attacks: list[dict[str, Any]]  # each: name, type, norm and the settings given in the file


class _SuiteOptional(TypedDict, total=False):
    bounds: list[Any]  # bounds set for every attack suite (the benchmark suite's file or --bounds)


class SuiteConfig(_SuiteOptional):
    name: str
    data: str
    limit: int | None
    models: list[str]
    attack_suites: list[AttackSuiteConfig]
    seed: int
    batch_size: int
    checks: bool


class DataInfo(TypedDict):
    name: str
    fingerprint: str  # SHA-256 prefix of the test inputs and labels
    n: int
    num_classes: int
    bounds: list[Any]  # [lower, upper] of the data: each a number or nested lists (per channel / feature)
    info: dict[str, Any]
    labels: list[int]


class ModelInfo(TypedDict):
    spec: str
    fingerprint: str  # SHA-256 prefix of the weights
    clean_accuracy: float


class AttackRecord(TypedDict):
    """One attack's sweep over its suite's eps grid, per example and per eps."""

    broken_eps: list[float | None]  # per example: the smallest eps that broke it, None if none did
    adv_pred: list[int]  # per example: the prediction at its adversarial point (clean if unbroken)
    norm: list[float | None]  # per example: the perturbation's norm where broken
    grad_evals: list[int]  # per example, over the sweep
    cell_grad_evals: list[int]  # per eps
    cell_seconds: list[float]  # per eps
    cell_attacked: list[int]  # per eps: how many examples were still attacked
    no_gradient: bool  # the model has no input gradient, so this (gradient) attack could not run


class ModelExamples(TypedDict):
    clean_pred: list[int]
    attack_suites: dict[str, dict[str, AttackRecord]]  # attack suite -> attack -> record


class Sample(TypedDict):
    model: str
    attack_suite: str
    attack: str
    eps: float
    index: int
    label: int
    adv_pred: int
    x: list
    x_adv: list


class CheckRecord(TypedDict):
    name: str
    status: str  # "pass", "warn" or "fail"
    value: str
    message: str
    model: str


class SummaryRow(TypedDict):
    model: str
    attack_suite: str
    attack: str  # an attack's name, or "worst-case": each example's strongest attack
    norm: str
    eps: float
    n: int
    clean_accuracy: float
    robust_accuracy: float
    robust_accuracy_low: float  # 95% Wilson interval
    robust_accuracy_high: float
    success_rate: float
    mean_norm: float
    median_norm: float
    grad_evals: int
    seconds: float


class RunInfo(TypedDict):
    seconds: float
    cells_computed: int
    cells_reused: int


class Results(TypedDict):
    format: str
    created: str
    environment: Environment
    suite: SuiteConfig
    data: DataInfo
    models: dict[str, ModelInfo]
    examples: dict[str, ModelExamples]
    samples: list[Sample]
    checks: list[CheckRecord]
    summary: list[SummaryRow]
    run: RunInfo


SUMMARY_COLUMNS = list(SummaryRow.__annotations__)
REQUIRED_KEYS = ("format", "suite", "data", "models", "examples", "summary")


def _renamed(table: dict, old: str, new: str) -> dict:
    return {new if key == old else key: value for key, value in table.items()}


def upgrade(results: dict) -> Results:
    """Bring a results dictionary of any readable version to the current one."""
    if results.get("format") == "robustkit-results/1":
        results = dict(results, format=RESULTS_FORMAT)
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
    return results  # type: ignore[return-value]


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
    return upgrade(results)


def results_json(results: Results) -> str:
    """The text of ``results.json``."""
    return json.dumps(results, indent=1, allow_nan=True)

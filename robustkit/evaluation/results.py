"""The declared schema of ``results.json``: what a benchmark run writes and everything else reads.

One module defines it. The runner builds a :class:`Results`; the report, the gate and the
trust checks read it through :func:`read_results` and these types, never by guessing keys. The
``format`` field names the version (:mod:`robustkit.evaluation.results_versions` says what each
version changed, and upgrades older ones). Per-example data (labels, predictions, the eps at which
each example broke, which attack broke it, norms, work) stays out of ``results.json``, in the
columnar file ``examples.npz`` beside it, so the JSON stays small at any data size.
:func:`read_results` reads every version and upgrades it; in memory, per-example fields are
numpy arrays (NaN where an example never broke).

Example:
    >>> RESULTS_FORMAT, middle_eps([0.1, 0.2, 0.5])
    ('robustkit-results/4', 0.2)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from robustkit.errors import DataError
from robustkit.evaluation.results_versions import (
    COLUMNAR_FORMATS,
    PER_EXAMPLE,
    READABLE_FORMATS,
    RESULTS_FORMAT,
    as_floats,
    upgrade,
)

__all__ = ["RESULTS_FORMAT", "READABLE_FORMATS", "PER_EXAMPLE", "as_floats", "upgrade"]  # declared there, read here

EXAMPLES_FILE = "examples.npz"  # the per-example columns, beside results.json


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
    chain: bool  # each attack attacks only what the earlier ones left robust; its rows are cumulative
    constraints: dict[str, Any]  # feature constraints: radius, integer, one_hot (flat indices), described


class AttackSuiteConfig(_AttackSuiteOptional):
    name: str
    norm: str  # "linf", "l2" or "l1"
    eps: list[float]  # in input units
    bounds: list[Any] | None  # [lower, upper] as declared in the file; each a number or nested lists
    attacks: list[dict[str, Any]]  # each: name, type, norm and the settings given in the file


class _SuiteOptional(TypedDict, total=False):
    bounds: list[Any]  # bounds set for every attack suite (the benchmark suite's file or --bounds)
    class_names: list[str]  # the models' class order given by the suite or --class-names
    features: dict[str, Any]  # the feature constraints as written: eps_scale, immutable, integer, one_hot


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
    labels: Any  # per example (numpy array in memory; in examples.npz on disk)


class _ModelOptional(TypedDict, total=False):
    substitutions: list[str]  # attacks whose loss the model has too few classes for, and what replaced it


class ModelInfo(_ModelOptional):
    spec: str
    fingerprint: str  # SHA-256 prefix of the weights
    clean_accuracy: float


class AttackRecord(TypedDict):
    """One attack's sweep over its suite's eps grid, per example and per eps."""

    # Per example (numpy arrays in memory; columns of examples.npz on disk):
    broken_eps: Any  # the smallest eps that broke it, NaN if none did
    adv_pred: Any  # the prediction at its adversarial point (clean if unbroken)
    norm: Any  # the perturbation's norm where broken, NaN otherwise
    grad_evals: Any  # gradient evaluations over the sweep
    cell_grad_evals: list[int]  # per eps
    cell_seconds: list[float]  # per eps
    cell_attacked: list[int]  # per eps: how many examples were still attacked
    no_gradient: bool  # the model has no input gradient, so this (gradient) attack could not run


class ModelExamples(TypedDict):
    clean_pred: Any  # per example (numpy array in memory; in examples.npz on disk)
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
    status: str  # "pass", "warn", "fail" or "n/a" (the suite gave the check nothing to measure)
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


class _RunOptional(TypedDict, total=False):
    executor: str  # "in-process", or "ray: N tasks" when Ray workers computed the cells


class RunInfo(_RunOptional):
    seconds: float
    cells_computed: int
    cells_reused: int


class ContributionRow(TypedDict):
    """Per model and chained attack suite: the examples each attack broke first at the headline eps."""

    model: str
    attack_suite: str
    eps: float
    broken_first: dict[str, int]  # attack name -> examples it broke that no attack before it had
    still_robust: int


class _ResultsOptional(TypedDict, total=False):
    examples_file: str  # on disk (version 3): the per-example columns' file, beside results.json
    contributions: list[ContributionRow]


class Results(_ResultsOptional):
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


def broken_at(values: Any) -> np.ndarray:
    """Per example, the eps that broke it, ``inf`` where none did (accepts NaN or None for unbroken).

    Example:
        >>> broken_at([0.1, None, float("nan")]).tolist()
        [0.1, inf, inf]
    """
    return np.nan_to_num(as_floats(values), nan=np.inf)


def _column(*parts: str) -> str:
    return "/".join(parts)


def example_columns(results: Results) -> dict[str, np.ndarray]:
    """Every per-example field as a named column: ``labels``, ``MODEL/clean_pred``,
    ``MODEL/SUITE/ATTACK/FIELD`` and, per attack suite, ``MODEL/SUITE/worst-case/broken_eps`` and
    ``.../broken_by`` (the attack that broke the example first, '' if none did)."""
    columns = {"labels": np.asarray(results["data"]["labels"], np.int64)}
    for model, per_model in results["examples"].items():
        columns[_column(model, "clean_pred")] = np.asarray(per_model["clean_pred"], np.int64)
        for suite, per_attack in per_model["attack_suites"].items():
            worst = np.full(len(columns["labels"]), np.inf)
            by = np.full(len(worst), "", dtype=object)
            for attack, record in per_attack.items():
                for field in PER_EXAMPLE:
                    columns[_column(model, suite, attack, field)] = np.asarray(record[field])  # type: ignore[literal-required]
                at = broken_at(record["broken_eps"])
                by = np.where(at < worst, attack, by)
                worst = np.minimum(worst, at)
            columns[_column(model, suite, "worst-case", "broken_eps")] = np.where(np.isinf(worst), np.nan, worst)
            columns[_column(model, suite, "worst-case", "broken_by")] = by.astype(str)
    return columns


def write_examples(results: Results, path: str | Path) -> None:
    """Write :func:`example_columns` to an ``.npz`` file (uncompressed: columns load fast, one at a time)."""
    np.savez(path, **example_columns(results))  # type: ignore[arg-type]


def _with_examples(results: dict, folder: Path, path: Path) -> dict:
    """Put the columns of ``examples.npz`` back into a version 3 results dictionary."""
    columns_path = folder / results.pop("examples_file", EXAMPLES_FILE)
    try:
        with np.load(columns_path, allow_pickle=False) as archive:
            columns = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise DataError(
            f"{str(path)!r} keeps its per-example data in {columns_path.name}, which is missing beside it; "
            "copy both files together, or run the benchmark again."
        ) from None
    except Exception as err:
        raise DataError(f"Could not read {str(columns_path)!r}: {err}") from None
    try:
        results["data"]["labels"] = columns["labels"]
        for model, per_model in results["examples"].items():
            per_model["clean_pred"] = columns[_column(model, "clean_pred")]
            for suite, per_attack in per_model["attack_suites"].items():
                for attack, record in per_attack.items():
                    for field in PER_EXAMPLE:
                        record[field] = columns[_column(model, suite, attack, field)]
    except KeyError as err:
        raise DataError(f"{str(columns_path)!r} lacks the column {err}; it belongs to another run.") from None
    return results


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
        results = _with_examples(results, Path(path).parent, Path(path))
    return upgrade(results)


def _without_examples(results: Results) -> dict:
    """``results`` as ``results.json`` holds it: the per-example fields left to ``examples.npz``."""
    slim: dict = dict(results)
    slim["data"] = {k: v for k, v in results["data"].items() if k != "labels"}
    slim["examples"] = {
        model: {
            "attack_suites": {
                suite: {
                    attack: {k: v for k, v in record.items() if k not in PER_EXAMPLE}
                    for attack, record in per_attack.items()
                }
                for suite, per_attack in per_model["attack_suites"].items()
            }
        }
        for model, per_model in results["examples"].items()
    }
    slim["examples_file"] = EXAMPLES_FILE
    return slim


def results_json(results: Results) -> str:
    """The text of ``results.json`` (per-example data goes to ``examples.npz``: :func:`write_examples`)."""
    return json.dumps(_without_examples(results), indent=1, allow_nan=True)

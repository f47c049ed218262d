"""The columnar file ``examples.npz``: every per-example field of a run, one named column each.

``results.json`` stays small at any data size because the per-example data lives here
(:func:`write_examples`); :func:`~robustkit.evaluation.results.read_results` puts it back.

Example:
    >>> _column("digits-cnn", "linf", "pgd-20", "broken_eps")
    'digits-cnn/linf/pgd-20/broken_eps'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from robustkit.errors import DataError
from robustkit.evaluation.results_schema import Results
from robustkit.evaluation.results_versions import PER_EXAMPLE_FIELDS, as_floats

EXAMPLES_FILE = "examples.npz"  # the per-example columns, beside results.json


def broken_at(values: Any) -> np.ndarray:
    """Per example, the eps that broke it, ``inf`` where none did (accepts NaN or None for unbroken).

    Example:
        >>> broken_at([0.1, None, float("nan")]).tolist()
        [0.1, inf, inf]
    """
    return np.nan_to_num(as_floats(values), nan=np.inf)


def _column(*parts: str) -> str:
    return "/".join(parts)


def _records(per_model: Any):
    """``(suite, method, record, fields)`` for every record of one model, of every kind of evaluation."""
    for kind, fields in PER_EXAMPLE_FIELDS.items():
        for suite, per_method in per_model.get(kind, {}).items():
            for method, record in per_method.items():
                yield suite, method, record, fields


def example_columns(results: Results) -> dict[str, np.ndarray]:
    """Every per-example field as a named column: ``labels``, ``MODEL/clean_pred``,
    ``MODEL/SUITE/METHOD/FIELD`` (METHOD: an attack, or ``sigma=S`` of a certification suite) and,
    per attack suite, ``MODEL/SUITE/worst-case/broken_eps`` and ``.../broken_by`` (the attack that
    broke the example first, '' if none did)."""
    columns = {"labels": np.asarray(results["data"]["labels"], np.int64)}
    for model, per_model in results["examples"].items():
        columns[_column(model, "clean_pred")] = np.asarray(per_model["clean_pred"], np.int64)
        for suite, method, record, fields in _records(per_model):
            for field in fields:
                columns[_column(model, suite, method, field)] = np.asarray(record[field])
        for suite, per_attack in per_model["attack_suites"].items():
            worst = np.full(len(columns["labels"]), np.inf)
            by = np.full(len(worst), "", dtype=object)
            for attack, record in per_attack.items():
                at = broken_at(record["broken_eps"])
                by = np.where(at < worst, attack, by)
                worst = np.minimum(worst, at)
            columns[_column(model, suite, "worst-case", "broken_eps")] = np.where(np.isinf(worst), np.nan, worst)
            columns[_column(model, suite, "worst-case", "broken_by")] = by.astype(str)
    return columns


def write_examples(results: Results, path: str | Path) -> None:
    """Write :func:`example_columns` to an ``.npz`` file (uncompressed: columns load fast, one at a time)."""
    np.savez(path, **example_columns(results))  # type: ignore[arg-type]


def with_examples(results: dict, folder: Path, path: Path) -> dict:
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
            for suite, method, record, fields in _records(per_model):
                for field in fields:
                    record[field] = columns[_column(model, suite, method, field)]
    except KeyError as err:
        raise DataError(f"{str(columns_path)!r} lacks the column {err}; it belongs to another run.") from None
    return results


def _without_examples(results: Results) -> dict:
    """``results`` as ``results.json`` holds it: the per-example fields left to ``examples.npz``."""
    slim: dict = dict(results)
    slim["data"] = {k: v for k, v in results["data"].items() if k != "labels"}
    slim["examples"] = {
        model: {
            kind: {
                suite: {
                    method: {k: v for k, v in record.items() if k not in fields}
                    for method, record in per_method.items()
                }
                for suite, per_method in per_model[kind].items()  # type: ignore[literal-required]
            }
            for kind, fields in PER_EXAMPLE_FIELDS.items()
            if kind in per_model
        }
        for model, per_model in results["examples"].items()
    }
    slim["examples_file"] = EXAMPLES_FILE
    return slim


def results_json(results: Results) -> str:
    """The text of ``results.json`` (per-example data goes to ``examples.npz``: :func:`write_examples`)."""
    return json.dumps(_without_examples(results), indent=1, allow_nan=True)

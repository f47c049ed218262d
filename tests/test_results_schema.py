"""``results.json`` follows its declared schema, and version 1 files are still read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robustkit.errors import DataError
from robustkit.evaluation import results as schema
from robustkit.evaluation.results import RESULTS_FORMAT, read_results
from robustkit.evaluation.suite_files import repository_root

REFERENCE = repository_root() / "reports" / "default" / "results.json"


def _keys(typed_dict) -> set[str]:
    return set(typed_dict.__required_keys__)


def _fits(record: dict, typed_dict) -> bool:
    """Every required field is there, and nothing undeclared."""
    return typed_dict.__required_keys__ <= set(record) <= typed_dict.__required_keys__ | typed_dict.__optional_keys__


def test_the_reference_results_have_exactly_the_declared_fields():
    results = read_results(REFERENCE)
    assert results["format"] == RESULTS_FORMAT
    assert _fits(results, schema.Results)
    assert set(results["environment"]) == _keys(schema.Environment)
    assert _fits(results["suite"], schema.SuiteConfig)
    assert all(_fits(s, schema.AttackSuiteConfig) for s in results["suite"]["attack_suites"])
    assert set(results["data"]) == _keys(schema.DataInfo)
    assert all(set(m) == _keys(schema.ModelInfo) for m in results["models"].values())
    for per_model in results["examples"].values():
        assert set(per_model) == _keys(schema.ModelExamples)
        records = [r for per_suite in per_model["attack_suites"].values() for r in per_suite.values()]
        assert records and all(set(r) == _keys(schema.AttackRecord) for r in records)
    assert results["samples"] and all(set(s) == _keys(schema.Sample) for s in results["samples"])
    assert results["checks"] and all(set(c) == _keys(schema.CheckRecord) for c in results["checks"])
    assert all(set(r) == _keys(schema.SummaryRow) for r in results["summary"])
    assert _fits(results["run"], schema.RunInfo)


def _plain(value):
    """Numpy arrays as lists (NaN as None, as JSON versions 1 and 2 stored them), for comparing and dumping."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [None if isinstance(v, float) and np.isnan(v) else v for v in value.tolist()]
    return value


def _as_version(results: dict, version: int) -> dict:
    """What the same run wrote under version 1 or 2 of the schema: everything inline in the JSON."""
    old = json.loads(json.dumps(_plain(results)))
    old.pop("examples_file", None)
    old["format"] = f"robustkit-results/{version}"
    old["contributions"] = [_version_3_row(row) for row in old.get("contributions", [])]
    if version == 1:
        old["suite"]["threat_models"] = old["suite"].pop("attack_suites")
        for per_model in old["examples"].values():
            per_model["threats"] = per_model.pop("attack_suites")
        for row in old["samples"] + old["summary"]:
            row["threat"] = row.pop("attack_suite")
    return old


def _version_3_row(row: dict) -> dict:
    """A contribution row as versions 1 to 3 wrote it: the counts beside the display columns."""
    shown = {"model": row["model"], "attack suite": row["attack_suite"], "eps": row["eps"]}
    return {**shown, **row["broken_first"], "still robust": row["still_robust"]}


def test_a_version_3_file_is_upgraded_on_a_copy_and_its_contributions_get_fixed_keys():
    current = read_results(REFERENCE)
    assert current["contributions"] and all(_fits(r, schema.ContributionRow) for r in current["contributions"])
    old = dict(current, format="robustkit-results/3")
    old["contributions"] = [_version_3_row(r) for r in current["contributions"]]
    before = json.dumps(_plain(old))
    upgraded = schema.upgrade(old)
    assert json.dumps(_plain(old)) == before  # the caller's dictionary is left as it was
    assert upgraded["format"] == RESULTS_FORMAT and _plain(upgraded) == _plain(current)


@pytest.mark.parametrize("version", [1, 2])
def test_older_files_are_read_as_the_current_version(tmp_path, version):
    current = read_results(REFERENCE)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_as_version(current, version)))
    upgraded = read_results(path)
    assert upgraded["format"] == RESULTS_FORMAT
    assert _plain(upgraded) == _plain(current)
    record = upgraded["examples"]["digits-cnn"]["attack_suites"]["linf"]["pgd-20"]
    assert isinstance(record["broken_eps"], np.ndarray) and record["broken_eps"].dtype == float


def test_results_json_stays_small_and_the_columns_hold_every_example(tmp_path):
    """Version 3: per-example data lives in examples.npz; results.json does not grow with the data."""
    on_disk = json.loads(REFERENCE.read_text())
    assert on_disk["examples_file"] == "examples.npz" and "labels" not in on_disk["data"]
    record = on_disk["examples"]["digits-cnn"]["attack_suites"]["linf"]["pgd-20"]
    assert set(record) == {"cell_grad_evals", "cell_seconds", "cell_attacked", "no_gradient"}
    with np.load(REFERENCE.parent / "examples.npz") as columns:
        n = on_disk["data"]["n"]
        assert columns["labels"].shape == (n,)
        assert columns["digits-cnn/linf/pgd-20/broken_eps"].shape == (n,)
        by = columns["digits-cnn/linf/worst-case/broken_by"]
        worst = columns["digits-cnn/linf/worst-case/broken_eps"]
        assert set(by[np.isnan(worst)]) == {""} and set(by[~np.isnan(worst)]) <= {"fgsm", "pgd-20", "apgd-ce", "square"}
    (tmp_path / "results.json").write_text(REFERENCE.read_text())
    with pytest.raises(DataError, match="examples.npz, which is missing beside it"):
        read_results(tmp_path / "results.json")


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"format": "robustkit-results/9"}',
            "readable: robustkit-results/1, robustkit-results/2, robustkit-results/3",
        ),
        ("[1, 2]", "not a robustkit results.json"),
        ('{"format": "robustkit-results/2", "suite": {}}', "lacks data, models, examples, summary"),
        ("{not json", "Could not read"),
    ],
)
def test_unreadable_results_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_results(path)

"""``results.json`` follows its declared schema, and version 1 files are still read."""

from __future__ import annotations

import json

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
    assert set(results) == _keys(schema.Results)
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
    assert set(results["run"]) == _keys(schema.RunInfo)


def _as_version_1(results: dict) -> dict:
    """What the same run wrote under version 1 of the schema."""
    old = json.loads(json.dumps(results))
    old["format"] = "robustkit-results/1"
    old["suite"]["threat_models"] = old["suite"].pop("attack_suites")
    for per_model in old["examples"].values():
        per_model["threats"] = per_model.pop("attack_suites")
    for row in old["samples"] + old["summary"]:
        row["threat"] = row.pop("attack_suite")
    return old


def test_a_version_1_file_is_read_as_the_current_version(tmp_path):
    current = read_results(REFERENCE)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_as_version_1(current)))
    assert read_results(path) == current


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"format": "robustkit-results/9"}', "readable: robustkit-results/1, robustkit-results/2"),
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

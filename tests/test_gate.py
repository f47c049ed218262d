"""`robustkit gate`: passes on an unchanged model, fails on a weakened or gradient-masked one."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from robustkit.cli import main
from robustkit.errors import ConfigError
from robustkit.evaluation.suite_files import repository_root
from robustkit.outputs.conditions import Condition, junit_xml
from robustkit.outputs.gate import parse_threshold

SUITE = """
name = "gate"
data = "digits"
limit = 240
models = ["tests.check_models:gate_model"]
attacks = ["linf"]
seed = 0
"""


def _failures(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuite" and int(root.get("tests")) == len(root.findall("testcase"))
    return {
        case.get("name"): case.find("failure").get("message")
        for case in root.findall("testcase")
        if case.find("failure") is not None
    }


@pytest.fixture(scope="module")
def gate_baseline(tmp_path_factory):
    """A suite over tests.check_models:gate_model and its baseline, written once by the healthy model."""
    tmp = tmp_path_factory.mktemp("gate")
    suite = tmp / "gate.toml"
    suite.write_text(SUITE)
    baseline = tmp / "baseline" / "results.json"
    previous = Path.cwd()
    os.chdir(repository_root())  # the factory lives in tests/check_models.py
    os.environ["ROBUSTKIT_GATE_VARIANT"] = "healthy"
    try:
        code = main(
            [
                "gate",
                str(suite),
                "--eps",
                "0.05",
                "0.1",
                "0.15",
                "--baseline",
                str(baseline),
                "--update-baseline",
                "--out",
                str(tmp / "first"),
                "--quiet",
            ]
        )
    finally:
        os.environ.pop("ROBUSTKIT_GATE_VARIANT", None)
        os.chdir(previous)
    assert code == 0 and baseline.exists()
    return suite, baseline


@pytest.fixture
def gate_suite(gate_baseline, tmp_path, monkeypatch):
    monkeypatch.chdir(repository_root())
    monkeypatch.setenv("ROBUSTKIT_GATE_VARIANT", "healthy")
    return gate_baseline[0], gate_baseline[1], tmp_path


def _gate(suite, baseline, out, *extra):
    return main(
        [
            "gate",
            str(suite),
            "--eps",
            "0.05",
            "0.1",
            "0.15",
            "--baseline",
            str(baseline),
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


@pytest.mark.slow
def test_unchanged_model_passes_and_a_weakened_one_fails(gate_suite, monkeypatch, capsys):
    suite, baseline, tmp = gate_suite
    assert _gate(suite, baseline, tmp / "same") == 0
    assert not _failures(tmp / "same" / "junit.xml")
    assert "PASSED" in (tmp / "same" / "summary.md").read_text()
    monkeypatch.setenv("ROBUSTKIT_GATE_VARIANT", "weakened")
    assert _gate(suite, baseline, tmp / "weak") == 1
    failures = _failures(tmp / "weak" / "junit.xml")
    assert "gate_model linf vs baseline" in failures
    assert "robust accuracy regressed" in failures["gate_model linf vs baseline"]
    err = capsys.readouterr().err
    assert "robustkit gate FAILED" in err and "vs baseline" in err
    assert "FAILED" in (tmp / "weak" / "summary.md").read_text()


@pytest.mark.slow
def test_gradient_masked_model_fails_on_its_checks(gate_suite, monkeypatch):
    suite, baseline, tmp = gate_suite
    monkeypatch.setenv("ROBUSTKIT_GATE_VARIANT", "masked")
    assert _gate(suite, baseline, tmp / "masked") == 1
    failures = _failures(tmp / "masked" / "junit.xml")
    assert "gate_model trust check zero-gradients" in failures
    assert "gate_model trust check huge-eps-reaches-chance" in failures
    # The masked model looks *more* robust on the baseline's own weights: the baseline flags the rise.
    assert "on the baseline's own weights" in failures["gate_model linf vs baseline"]
    # Allowing the failing checks lets it through: the user decides, explicitly.
    allowed = ["--allow-check", "zero-gradients", "huge-eps-reaches-chance", "loss-improves", "finite-differences"]
    # Square (in the linf suite) breaks what the masked gradients cannot: the most direct masking check fails.
    assert "gate_model trust check black-box-beats-white-box" in failures
    assert set(failures) - {"gate_model linf vs baseline"} <= {
        f"gate_model trust check {name}" for name in [*allowed[1:], "black-box-beats-white-box"]
    }


@pytest.mark.slow
def test_thresholds(gate_suite):
    suite, baseline, tmp = gate_suite
    # eps as --eps takes it: a fraction of the [0, 1] range is the same eps as the number
    assert _gate(suite, baseline, tmp / "t1", "--min-robust-accuracy", "linf:0.05=0.5", "linf:1/10=0") == 0
    cases = [case.get("name") for case in ET.parse(tmp / "t1" / "junit.xml").getroot().findall("testcase")]
    assert "gate_model linf eps=0.1 robust accuracy >= 0.00%" in cases
    assert _gate(suite, baseline, tmp / "t2", "--min-robust-accuracy", "gate_model/linf:0.1=0.99") == 1
    assert any("robust accuracy >= 99.00%" in name for name in _failures(tmp / "t2" / "junit.xml"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--min-robust-accuracy", "linf=0.5"], "Bad threshold 'linf=0.5'"),
        (["--min-robust-accuracy", "linf:0.3=0.5"], "eps 0.3 is not in the grid of 'linf' (0.05, 0.1, 0.15)"),
        (["--min-robust-accuracy", "linf:abc=0.5"], "eps is written as for --eps"),
        (["--min-robust-accuracy", "l1:0.1=0.5"], "names attack suite 'l1'; the run has linf (linf)"),
        (["--allow-check", "vibes"], "Unknown trust check(s) ['vibes']"),
        (["--confidence", "2"], "--confidence must lie in (0.5, 1)"),
    ],
)
def test_usage_errors_exit_2(gate_suite, capsys, extra, message):
    suite, baseline, tmp = gate_suite
    assert _gate(suite, baseline, tmp / "usage", *extra) == 2
    assert message in capsys.readouterr().err.replace("\n", "")
    assert not (tmp / "usage").exists()  # refused before the run, not after it


def test_missing_baseline_file_exits_2(tmp_path, capsys):
    code = main(["gate", "--baseline", str(tmp_path / "nope.json"), "--quiet"])
    assert code == 2 and "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_default_suite_passes_against_the_committed_baseline(tmp_path):
    assert (repository_root() / "reports" / "default" / "results.json").exists()
    code = main(
        [
            "gate",
            "--baseline",
            str(repository_root() / "reports" / "default" / "results.json"),
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0, (tmp_path / "summary.md").read_text()


def test_parse_threshold_and_junit_rendering():
    assert parse_threshold("digits-cnn/l2:0.5=0.6").model == "digits-cnn"
    with pytest.raises(ConfigError):
        parse_threshold("linf:0.1=1.5")
    xml = junit_xml(
        [Condition("check", "a <b>", False, 'broke "x" & y'), Condition("threshold", "ok", True, "fine")], "s"
    )
    root = ET.fromstring(xml)
    assert root.get("failures") == "1" and root.find("testcase/failure").get("message") == 'broke "x" & y'


@pytest.mark.slow
def test_a_changed_eps_grid_fails_instead_of_comparing_nothing(gate_suite):
    suite, baseline, tmp = gate_suite
    code = main(["gate", str(suite), "--eps", "0.07", "--baseline", str(baseline), "--out", str(tmp / "g"), "--quiet"])
    assert code == 1
    message = _failures(tmp / "g" / "junit.xml")["gate_model linf vs baseline"]
    assert "no eps in common with the baseline" in message and "0.05, 0.1, 0.15" in message


def test_a_check_that_does_not_apply_is_a_skipped_case_not_a_pass():
    xml = junit_xml(
        [Condition("check", "m trust check black-box-beats-white-box", True, "N/A. no Square", skipped=True)], "s"
    )
    root = ET.fromstring(xml)
    assert root.get("skipped") == "1" and root.get("failures") == "0"
    assert root.find("testcase/skipped") is not None

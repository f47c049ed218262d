"""Models without input gradients are evaluated, not refused: Square still runs, the checks fail."""

from __future__ import annotations

import numpy as np
import pytest

from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.suite_files import repository_root
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from robustkit.outputs.report import write_report

MODELS = ["tests.check_models:stopped_input", "tests.check_models:rounded_input", "digits-cnn"]


@pytest.fixture(scope="module")
def masked_run(tmp_path_factory, zoo_cache):
    attacks = (
        AttackSpec("pgd", "pgd", "linf", steps=10, rel_step_size=0.25, random_start=True),
        AttackSpec("square", "square", "linf", steps=300, random_start=True, loss="margin"),
    )
    suite = BenchmarkSuite(
        "masking", "digits", MODELS, [AttackSuite("linf", "linf", (0.1, 0.2), attacks)], limit=120, batch_size=128
    )
    out = tmp_path_factory.mktemp("masking")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repository_root())  # the factories live in tests/check_models.py
        run = run_benchmark(suite, out)
    return run, out


def _rows(run, model, attack):
    part = run.summary[(run.summary.model == model) & (run.summary.attack == attack)]
    return part.sort_values("eps")["robust_accuracy"].to_numpy()


@pytest.mark.slow
def test_the_benchmark_finishes_and_writes_its_report(masked_run):
    run, out = masked_run
    written = write_report(run.results, out, run.summary)
    assert {"results.json", "report.md", "report.html"} <= set(written)
    for model in ("stopped_input", "rounded_input"):
        record = run.results["examples"][model]["attack_suites"]["linf"]
        assert record["pgd"]["no_gradient"] and not record["square"]["no_gradient"]
        assert np.isnan(_rows(run, model, "pgd")).all()  # no number rather than a wrong one
        assert (_rows(run, model, "square") < run.results["models"][model]["clean_accuracy"] - 0.1).all()
    assert not run.results["examples"]["digits-cnn"]["attack_suites"]["linf"]["pgd"]["no_gradient"]


@pytest.mark.slow
def test_square_sees_through_the_stopped_gradient(masked_run):
    run, _ = masked_run
    stopped, plain = _rows(run, "stopped_input", "square"), _rows(run, "digits-cnn", "square")
    assert np.all(np.abs(stopped - plain) <= 0.05)  # the same forward function, other random draws
    np.testing.assert_allclose(_rows(run, "stopped_input", "worst-case"), stopped)


@pytest.mark.slow
def test_the_checks_fail_on_masked_models_and_not_on_the_healthy_one(masked_run):
    run, _ = masked_run
    status = {(c["model"], c["name"]): c["status"] for c in run.results["checks"]}
    for model in ("stopped_input", "rounded_input"):
        assert status[(model, "zero-gradients")] == "fail"
        assert status[(model, "black-box-beats-white-box")] == "fail"
    assert status[("digits-cnn", "zero-gradients")] == "pass"
    assert status[("digits-cnn", "black-box-beats-white-box")] != "fail"

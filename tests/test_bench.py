"""The runner: monotone, work-efficient sweeps that resume after any interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from robustkit.outputs.report import write_report

NUMBERS = [
    "model",
    "attack_suite",
    "attack",
    "norm",
    "eps",
    "n",
    "clean_accuracy",
    "robust_accuracy",
    "robust_accuracy_low",
    "robust_accuracy_high",
    "success_rate",
    "grad_evals",
]


def _suite(eps, attacks=None, models=("digits-mlp",), limit=120, norm="linf"):
    attacks = attacks or (
        AttackSpec("fgsm", "fgsm", norm),
        AttackSpec("pgd", "pgd", norm, steps=10, rel_step_size=0.25, random_start=True),
    )
    attack_suite = AttackSuite(norm, norm, tuple(sorted(eps)), tuple(attacks))
    return BenchmarkSuite("t", "digits", list(models), [attack_suite], seed=0, limit=limit, batch_size=64)


@pytest.mark.slow
@settings(max_examples=6)
@given(
    st.lists(st.sampled_from([0.0, 0.01, 0.03, 0.05, 0.08, 0.1, 0.15, 0.3]), min_size=2, max_size=5, unique=True),
    st.sampled_from(["linf", "l2"]),
)
def test_robust_accuracy_never_increases_with_eps(tmp_path_factory, eps, norm):
    scale = 1.0 if norm == "linf" else 6.0
    run = run_benchmark(_suite([e * scale for e in eps], norm=norm), tmp_path_factory.mktemp("mono"))
    for (_, attack), group in run.summary.groupby(["model", "attack"]):
        accuracy = group.sort_values("eps")["robust_accuracy"].to_numpy()
        assert np.all(np.diff(accuracy) <= 0), f"{attack}: {accuracy}"
        assert np.all(accuracy <= group["clean_accuracy"].to_numpy() + 1e-12)
    for _, group in run.summary.groupby("eps"):
        worst = group[group.attack == "worst-case"]["robust_accuracy"].item()
        assert worst <= group[group.attack != "worst-case"]["robust_accuracy"].min() + 1e-12
    if 0.0 in eps:
        zero = run.summary[(run.summary.eps == 0.0)]
        assert np.allclose(zero["robust_accuracy"], zero["clean_accuracy"])


@pytest.mark.slow
def test_sweep_is_no_weaker_than_independent_runs_and_does_less_work(tmp_path, digits, digits_mlp):
    from robustkit.attacks import PGD

    spec = AttackSpec("pgd", "pgd", "linf", steps=10, rel_step_size=0.25, random_start=False)
    eps = (0.02, 0.05, 0.1)
    run = run_benchmark(_suite(eps, attacks=[spec], limit=200), tmp_path)
    x, y = digits.x_test[:200], digits.y_test[:200]
    independent_evals = 0
    for e in eps:
        fixed = PGD(eps=e, steps=10, step_size=0.25 * e, random_start=False).run(digits_mlp, x, y)
        independent_evals += fixed.total_grad_evals
        row = run.summary[(run.summary.attack == "pgd") & (run.summary.eps == e)].iloc[0]
        assert row.robust_accuracy <= fixed.robust_accuracy + 1e-12
    assert run.summary[run.summary.attack == "pgd"]["grad_evals"].sum() < 0.8 * independent_evals


def test_a_sweep_without_random_start_takes_the_gradient_at_x_once(tmp_path, digits, digits_mlp):
    from robustkit.attacks import FGSM

    eps = (0.02, 0.05, 0.1, 0.2)
    run = run_benchmark(_suite(eps, attacks=[AttackSpec("fgsm", "fgsm", "linf")], limit=200), tmp_path)
    rows = run.summary[run.summary.attack == "fgsm"].sort_values("eps")
    correct = int(round(rows.clean_accuracy.iloc[0] * 200))
    # FGSM's only step starts at x: one gradient per attacked example for the whole sweep,
    # charged to the first eps, instead of one per example and eps.
    assert rows.grad_evals.tolist() == [correct, 0, 0, 0]
    x, y = digits.x_test[:200], digits.y_test[:200]
    for e, accuracy in zip(eps, rows.robust_accuracy):
        assert accuracy <= FGSM(eps=e).run(digits_mlp, x, y).robust_accuracy + 1e-12


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes_without_redoing_cells(tmp_path):
    suite = _suite([0.02, 0.05, 0.1, 0.2])
    reference = run_benchmark(suite, tmp_path / "reference")

    def stop_after_three(done, total, label):
        if done == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_benchmark(suite, tmp_path / "resumed", progress=stop_after_three)
    saved = sorted((tmp_path / "resumed").rglob("eps-*.npz"))
    assert len(saved) == 3
    stamps = {p: p.stat().st_mtime_ns for p in saved}
    resumed = run_benchmark(suite, tmp_path / "resumed")
    assert (resumed.cells_reused, resumed.cells_computed) == (3, 5)
    assert all(p.stat().st_mtime_ns == stamps[p] for p in saved)
    pd.testing.assert_frame_equal(resumed.summary[NUMBERS], reference.summary[NUMBERS])


@pytest.mark.slow
def test_cells_of_a_changed_configuration_are_not_reused(tmp_path):
    run_benchmark(_suite([0.05, 0.1]), tmp_path)
    again = run_benchmark(_suite([0.05, 0.1], limit=100), tmp_path)  # other data: other cells
    assert again.cells_reused == 0
    again = run_benchmark(_suite([0.05, 0.1], limit=100), tmp_path)
    assert again.cells_computed == 0


KILL_SUITE = """
name = "killtest"
data = "digits"
models = ["digits-cnn"]
attacks = ["{attacks}"]
seed = 3
batch_size = 128
"""
KILL_ATTACKS = """
name = "slow"
norm = "linf"
eps = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14]

[[attack]]
name = "pgd-200"
type = "pgd"
steps = 200
rel_step_size = 0.05
random_start = true
"""


def _cli(*args):
    return [sys.executable, "-m", "robustkit", *args]


@pytest.mark.slow
def test_kill_9_and_resume_gives_the_uninterrupted_numbers(tmp_path):
    (tmp_path / "slow.toml").write_text(KILL_ATTACKS)
    suite = tmp_path / "killtest.toml"
    suite.write_text(KILL_SUITE.format(attacks=tmp_path / "slow.toml"))
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    process = subprocess.Popen(
        _cli("bench", str(suite), "--out", str(killed), "--quiet"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 240
    cells = []
    while time.time() < deadline and process.poll() is None:
        cells = list(killed.rglob("eps-*.npz"))
        if len(cells) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed: " + process.stderr.read().decode()[-2000:]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    survivors = {p: p.stat().st_mtime_ns for p in killed.rglob("eps-*.npz")}
    assert 3 <= len(survivors) < 12
    done = subprocess.run(
        _cli("bench", str(suite), "--out", str(killed), "--quiet"), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((killed / "results.json").read_text())
    assert results["run"]["cells_reused"] == len(survivors)
    assert results["run"]["cells_computed"] == 12 - len(survivors)
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in survivors.items())
    full = subprocess.run(
        _cli("bench", str(suite), "--out", str(clean), "--quiet"), capture_output=True, text=True, timeout=600
    )
    assert full.returncode == 0, full.stderr
    a = pd.read_csv(killed / "summary.csv")[NUMBERS]
    b = pd.read_csv(clean / "summary.csv")[NUMBERS]
    pd.testing.assert_frame_equal(a, b)
    assert not list(killed.rglob(".cell-*"))  # no half-written cell files left behind


@pytest.mark.slow
def test_report_files_parse(tmp_path):
    run = run_benchmark(_suite([0.05, 0.1], models=("digits-mlp", "digits-cnn")), tmp_path)
    written = write_report(run.results, tmp_path, run.summary)
    assert set(written) == {
        "results.json",
        "examples.npz",
        "summary.csv",
        "report.md",
        "report.html",
        "robustness_curves.png",
        "examples.png",
    }
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["environment"]["tensorflow"] and results["environment"]["keras"]
    assert set(results["models"]) == {"digits-mlp", "digits-cnn"}
    assert all(len(m["fingerprint"]) == 16 for m in results["models"].values())
    assert results["data"]["fingerprint"] and results["suite"]["seed"] == 0
    csv = pd.read_csv(tmp_path / "summary.csv")
    required = [
        "model",
        "attack",
        "norm",
        "eps",
        "n",
        "clean_accuracy",
        "robust_accuracy",
        "robust_accuracy_low",
        "robust_accuracy_high",
        "success_rate",
        "grad_evals",
        "seconds",
    ]
    assert all(c in csv.columns for c in required)
    assert set(csv["attack"]) == {"fgsm", "pgd", "worst-case"}
    assert csv[required[5:10]].apply(lambda c: c.dropna().between(0, 1).all()).all()
    assert len(csv) == 2 * 3 * 2
    page = (tmp_path / "report.html").read_text()
    assert page.count("<table") >= 2 and page.count("data:image/png;base64,") == 2
    assert "digits-cnn" in page and "worst-case" in page
    markdown = (tmp_path / "report.md").read_text()
    assert "| model | attack | clean | 0.05 | 0.1 |" in markdown
    for png in ("robustness_curves.png", "examples.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

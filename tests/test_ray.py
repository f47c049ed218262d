"""The same evaluation as Ray tasks on a local cluster (a head and two worker processes): equal results,
also when a worker is killed in mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

from robustkit.cli import main
from robustkit.evaluation.results_columns import example_columns
from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from tests.extras import require

ray = require("ray", "ray")
from robustkit.evaluation.ray_executor import compute_with_ray, worker_environment  # noqa: E402

pytestmark = pytest.mark.slow  # see tests/README.md: the slow tier

LINF = AttackSuite(
    "linf",
    "linf",
    (0.05, 0.1, 0.2),
    (
        AttackSpec("fgsm", "fgsm", "linf"),
        AttackSpec("pgd-30", "pgd", "linf", steps=30, rel_step_size=0.1, random_start=True),
    ),
)
SUITE = BenchmarkSuite("ray", "digits", ["digits-mlp", "digits-cnn"], [LINF], shard_size=120, batch_size=60)
NUMBERS = ["robust_accuracy", "robust_accuracy_low", "robust_accuracy_high", "clean_accuracy", "grad_evals"]


@pytest.fixture(scope="module")
def cluster(zoo_cache, digits_cnn):
    """A local Ray cluster: the head and two single-threaded worker processes, sharing the model cache."""
    from robustkit.sources.zoo import load_zoo_model

    load_zoo_model("digits-mlp")  # trained once here, not by both workers at once
    env = worker_environment(threads=1, cache=zoo_cache)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def single_process(tmp_path_factory, zoo_cache):
    return run_benchmark(SUITE, tmp_path_factory.mktemp("single"))


def _same(a, b) -> None:
    assert a.summary[NUMBERS].equals(b.summary[NUMBERS])
    ca, cb = example_columns(a.results), example_columns(b.results)
    assert ca.keys() == cb.keys()
    for key in ca:
        assert np.array_equal(ca[key], cb[key], equal_nan=ca[key].dtype.kind == "f"), key
    checks = [(c["model"], c["name"], c["status"], c["value"]) for c in a.results["checks"]]
    assert checks == [(c["model"], c["name"], c["status"], c["value"]) for c in b.results["checks"]]


def test_ray_tasks_give_the_single_process_results(cluster, single_process, tmp_path):
    tasks = compute_with_ray(SUITE, tmp_path)
    assert tasks == 2 * 2 * 3  # models x attacks x shards
    run = run_benchmark(SUITE, tmp_path, executor=f"ray: {tasks} tasks")
    assert run.cells_computed == 0 and run.cells_reused == single_process.cells_computed  # all done by workers
    assert run.results["run"]["executor"] == "ray: 12 tasks"
    _same(run, single_process)


def _kill_a_busy_worker(killed: list[int], stop: threading.Event) -> None:
    """Kill -9 the first worker process seen running a task, once."""
    while not stop.is_set() and not killed:
        found = subprocess.run(["pgrep", "-f", "ray::compute_shard"], capture_output=True, text=True).stdout.split()
        if found:
            time.sleep(0.5)  # let it save a cell or two first
            pid = int(found[0])
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                continue
        time.sleep(0.1)


def test_a_worker_killed_mid_run_changes_nothing(cluster, single_process, tmp_path):
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_busy_worker, args=(killed, stop))
    killer.start()
    try:
        compute_with_ray(SUITE, tmp_path)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was caught running a task"
    run = run_benchmark(SUITE, tmp_path)
    assert run.cells_computed == 0  # the retried task finished what the killed worker had not
    assert not list(tmp_path.rglob(".eps-*"))  # no half-written cell left behind
    _same(run, single_process)


def test_the_command_line_runs_on_the_cluster(cluster, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["bench", "--model", "digits-mlp", "--attack", "linf", "--eps", "0.1", "--limit", "60", "--ray"]
    assert main([*args, "--out", str(out), "-q"]) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["executor"].startswith("ray: ") and results["run"]["cells_computed"] == 0
    assert main([*args, "--fresh", "--out", str(out), "-q"]) == 2
    assert "--fresh with --ray" in capsys.readouterr().err

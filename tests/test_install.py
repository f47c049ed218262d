"""A plain (non-editable) install works from any folder: the suites ship inside the wheel.

The wheel is built from this checkout and installed into a fresh virtual environment that sees the
dependencies this test runs with (TensorFlow is not installed twice), wherever they are installed,
then the console script runs in an empty folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from robustkit.evaluation.suite_files import repository_root

pytestmark = pytest.mark.slow  # see tests/README.md: the slow tier


def _run(command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The path of the ``robustkit`` script of a venv holding a wheel of this checkout, and its env."""
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    build = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(repository_root()),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
        ],
        root,
        dict(os.environ),
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("robustkit-*.whl")
    environment = root / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    _see_the_running_packages(python)
    install = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        root,
        dict(os.environ),
    )
    if "no such option: --python" in install.stderr:  # pip older than 22.3
        install = _run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], root, dict(os.environ))
    assert install.returncode == 0, install.stderr[-3000:]
    env = dict(os.environ, PATH=f"{environment / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    return environment / "bin" / "robustkit", python, env


def _see_the_running_packages(python: Path) -> None:
    """Let the new environment import the dependencies this test runs with (wherever they live: a virtual
    environment, the base interpreter, the user's site), after its own packages. A path in a ``.pth`` file
    is only appended to ``sys.path``: the ``.pth`` files found there (the checkout's editable install) are
    not run, so ``robustkit`` comes from the wheel."""
    paths = [*site.getsitepackages(), site.getusersitepackages()]
    own = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], python.parent, {})
    Path(own.stdout.strip(), "_running_packages.pth").write_text("\n".join(p for p in paths if Path(p).is_dir()) + "\n")


def test_the_wheel_carries_the_suites_and_not_the_checkout(installed, tmp_path):
    script, python, env = installed
    where = _run([str(python), "-c", "import robustkit; print(robustkit.__file__)"], tmp_path, env)
    assert where.returncode == 0, where.stderr[-2000:]
    assert str(repository_root()) not in where.stdout, "the venv imported the checkout, not the wheel"
    listing = _run([str(script), "suites"], tmp_path, dict(env, COLUMNS="200"))
    assert listing.returncode == 0, listing.stderr[-2000:]
    for name in ("default", "linf", "l2", "l1"):
        assert f" {name} " in listing.stdout
    assert "packaged" in listing.stdout and "checkout" not in listing.stdout


def test_bench_and_attack_run_in_an_empty_folder(installed, tmp_path):
    script, _, env = installed
    bench = _run(
        [str(script), "bench", "--model", "digits-mlp", "--attack", "linf", "--eps", "0.1", "--limit", "24", "-q"],
        tmp_path,
        env,
    )
    assert bench.returncode == 0, bench.stderr[-3000:]
    report = tmp_path / "reports" / "digits-mlp"  # a run on a model of the user's choosing is named after it
    for name in ("results.json", "report.md", "report.html", "summary.csv"):
        assert (report / name).exists(), name
    results = json.loads((report / "results.json").read_text())
    assert results["suite"]["attack_suites"][0]["name"] == "linf"
    gate = _run(
        [str(script), "check", "--model", "digits-mlp", "--attack", "linf", "--eps", "0.1", "--limit", "24", "-q"]
        + ["--min-robust-accuracy", "linf:0.1=0.0", "--allow-check", "attack-converged"],  # 24 examples: noisy
        tmp_path,
        env,
    )  # the deprecated name of `robustkit gate`, as CI jobs written for it still call it
    assert gate.returncode == 0, gate.stderr[-3000:]
    assert (tmp_path / "reports" / "digits-mlp-gate" / "junit.xml").exists()
    attack = _run(
        [str(script), "attack", "--model", "digits-mlp", "--eps", "0.1", "--out", "adv.npz", "-q"], tmp_path, env
    )
    assert attack.returncode == 0, attack.stderr[-3000:]
    assert (tmp_path / "adv.npz").exists()


def test_a_local_suite_overrides_the_packaged_one(installed, tmp_path):
    script, _, env = installed
    (tmp_path / "attacks").mkdir()
    (tmp_path / "attacks" / "linf.toml").write_text(
        'name = "linf"\nnorm = "linf"\neps = [0.05]\n[[attack]]\ntype = "fgsm"\n'
    )
    listing = _run([str(script), "suites"], tmp_path, dict(env, COLUMNS="200"))
    rows = listing.stdout.splitlines()
    at = next(i for i, row in enumerate(rows) if row.startswith("│ linf "))
    assert "local: attacks/linf.toml" in rows[at + 1]  # the row's second line names where it comes from

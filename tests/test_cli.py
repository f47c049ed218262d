"""The command line: exit codes, one clear message for user errors, real files written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from robustkit.cli import main


def _run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "no-such-suite"], "No suite named 'no-such-suite' in benchmarks/"),
        (
            ["bench", "--model", "no-such-model.keras", "--limit", "5"],
            "Model file 'no-such-model.keras' does not exist",
        ),
        (["bench", "--model", "digits-cnn", "--data", "missing.npz"], "Data file 'missing.npz' does not exist"),
        (["bench", "--attack", "nope"], "No suite named 'nope' in attacks/"),
        (["bench", "--model", "not-a-zoo-model"], "Unknown model 'not-a-zoo-model'"),
        (["report", "missing/results.json"], "does not exist"),
        (["attack", "--model", "digits-cnn", "--eps", "0.1", "--out", "adv.txt", "--limit"], None),
    ],
)
def test_user_errors_exit_2_with_one_message(capsys, args, message):
    if message is None:  # argparse's own usage error
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        return
    code, _, err = _run(capsys, *args)
    assert code == 2
    assert "robustkit: error:" in err and message in err.replace("\n", "")
    assert "Traceback" not in err


@pytest.mark.parametrize("eps", ["-0.1", "nan", "big", "inf"])
def test_bad_eps_is_a_usage_error(capsys, eps):
    with pytest.raises(SystemExit) as info:
        main(["bench", "--eps", eps])
    assert info.value.code == 2
    assert "eps must be" in capsys.readouterr().err


def test_bad_data_file(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("not an archive")
    code, _, err = _run(capsys, "bench", "--model", "digits-mlp", "--data", str(bad), "--out", str(tmp_path / "r"))
    assert code == 2 and "Could not read" in err
    np.savez(tmp_path / "wrong.npz", inputs=np.zeros((3, 8, 8, 1)))
    code, _, err = _run(capsys, "bench", "--model", "digits-mlp", "--data", str(tmp_path / "wrong.npz"))
    assert code == 2 and "needs 'x' (inputs) and 'y'" in err.replace("\n", "")
    np.savez(tmp_path / "scale.npz", x=np.full((3, 8, 8, 1), 255.0), y=np.array([1, 2, 3]))
    code, _, err = _run(capsys, "bench", "--model", "digits-mlp", "--data", str(tmp_path / "scale.npz"))
    assert code == 2 and "outside the bounds" in err


@pytest.mark.slow
def test_bench_on_an_npz_file_writes_every_report(tmp_path, capsys, digits):
    data = tmp_path / "few.npz"
    np.savez(data, x=digits.x_test[:40], y=digits.y_test[:40])
    out = tmp_path / "report"
    code, stdout, err = _run(
        capsys,
        "bench",
        "--model",
        "digits-mlp",
        "--data",
        str(data),
        "--attack",
        "linf",
        "--eps",
        "0.05",
        "0.1",
        "--out",
        str(out),
        "--seed",
        "1",
    )
    assert code == 0, err
    assert "robust accuracy" in stdout and "digits-mlp" in stdout
    for name in ("results.json", "summary.csv", "report.md", "report.html", "robustness_curves.png"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["n"] == 40 and results["suite"]["seed"] == 1
    assert [t["eps"] for t in results["suite"]["attack_suites"]] == [[0.05, 0.1]]
    # `report` re-renders from results.json alone.
    (out / "report.md").unlink()
    code, _, err = _run(capsys, "report", str(out / "results.json"))
    assert code == 0 and (out / "report.md").exists()


@pytest.mark.slow
def test_quiet_prints_nothing(tmp_path, capsys):
    code, stdout, err = _run(
        capsys,
        "bench",
        "--model",
        "digits-mlp",
        "--attack",
        "linf",
        "--eps",
        "0.1",
        "--limit",
        "20",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert code == 0 and stdout == "" and err == ""


def test_attack_writes_adversarial_examples(tmp_path, capsys, digits):
    out = tmp_path / "adv.npz"
    code, _, err = _run(
        capsys, "attack", "--model", "digits-cnn", "--eps", "0.1", "--norm", "linf", "--steps", "5", "--out", str(out)
    )
    assert code == 0, err
    with np.load(out) as adv:
        np.testing.assert_array_equal(adv["x"], digits.x_test)  # the originals, row for row
        np.testing.assert_array_equal(adv["y"], digits.y_test)
        assert adv["x_adv"].shape == digits.x_test.shape
        assert np.abs(adv["x_adv"] - digits.x_test).max() <= 0.1 + 1e-6
        assert adv["success"].mean() > 0.2 and np.any(adv["x_adv"] != adv["x"])
        assert adv["is_adversarial"].all() and np.array_equal(adv["x_train"], adv["x_adv"])
        correct = adv["clean_pred"] == adv["y"]
        rate = adv["success"][correct].mean()
        assert f"success rate {rate:.1%} of those classified correctly" in " ".join(err.split())
    code, _, err = _run(
        capsys, "attack", "--model", "digits-cnn", "--eps", "0.1", "--keep-originals", "--mix", "0.5", "--out", str(out)
    )
    assert code == 0
    with np.load(out) as adv:
        assert len(adv["x_train"]) == len(digits.x_test) + round(0.5 * len(digits.x_test))
        np.testing.assert_array_equal(adv["x_train"][: len(digits.x_test)], digits.x_test)
        np.testing.assert_array_equal(adv["x"], digits.x_test)


def test_models_lists_the_zoo(capsys):
    code, stdout, _ = _run(capsys, "models")
    assert code == 0 and "digits-cnn" in stdout and "digits-mlp" in stdout


def _console(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ROBUSTKIT_VERBOSE")}
    return subprocess.run(
        [sys.executable, "-m", "robustkit", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow
def test_console_script_exit_code_no_traceback_and_no_tensorflow_chatter():
    proc = _console("bench", "missing-suite")
    assert proc.returncode == 2
    assert "No suite named 'missing-suite'" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("robustkit: error:"), proc.stderr  # nothing from TensorFlow before it
    verbose = _console("bench", "missing-suite", "--verbose")
    assert verbose.returncode == 2
    assert len(verbose.stderr.splitlines()) > len(proc.stderr.splitlines())  # TensorFlow's start-up lines, kept
    assert "oneDNN" in verbose.stderr or "cuda" in verbose.stderr.lower()


@pytest.mark.parametrize(
    "attack, extra",
    [
        ("square", ["--steps", "30"]),
        ("autoattack", ["--steps", "3", "--ensemble", "fast"]),
        ("fab", ["--steps", "5"]),
        ("pgd", ["--steps", "3", "--straight-through"]),
    ],
)
def test_attack_runs_the_stronger_attacks(tmp_path, capsys, digits, attack, extra):
    out = tmp_path / "adv.npz"
    code, _, err = _run(
        capsys, "attack", "--model", "digits-cnn", "--eps", "0.1", "--type", attack, *extra, "--out", str(out)
    )
    assert code == 0, err
    with np.load(out) as adv:
        assert np.abs(adv["x_adv"] - digits.x_test).max() <= 0.1 + 1e-6 and adv["success"].any()


def test_attack_settings_that_do_not_apply_are_usage_errors(capsys):
    code, _, err = _run(
        capsys,
        "attack",
        "--model",
        "digits-cnn",
        "--eps",
        "0.1",
        "--type",
        "apgd-t",
        "--loss",
        "ce",
        "--out",
        "x.npz",
    )
    assert code == 2 and "always uses its own loss" in err
    code, _, err = _run(
        capsys, "attack", "--model", "digits-cnn", "--eps", "0.1", "--type", "fgsm", "--steps", "3", "--out", "x.npz"
    )
    assert code == 2 and "fgsm takes one step" in err
    code, _, err = _run(
        capsys,
        "attack",
        "--model",
        "digits-cnn",
        "--eps",
        "0.1",
        "--type",
        "square",
        "--straight-through",
        "--out",
        "x.npz",
    )
    assert code == 2 and "--straight-through is not a setting of square" in err
    code, _, err = _run(
        capsys,
        "attack",
        "--model",
        "digits-cnn",
        "--eps",
        "0.1",
        "--type",
        "pgd",
        "--ensemble",
        "fast",
        "--out",
        "x.npz",
    )
    assert code == 2 and "--ensemble is not a setting of pgd" in err
    code, _, err = _run(
        capsys,
        "attack",
        "--model",
        "digits-cnn",
        "--eps",
        "0.1",
        "--type",
        "autoattack",
        "--loss",
        "ce",
        "--out",
        "x.npz",
    )
    assert code == 2 and "--loss is not a setting of autoattack" in err


def test_messages_that_quote_brackets_keep_them(tmp_path, capsys):
    """A suite file's error lists keys such as bounds ([lower, upper]); the terminal must not eat them."""
    bad = tmp_path / "bad.toml"
    bad.write_text('norm = "linf"\neps = [0.1]\nbogus = 1\n[[attack]]\ntype = "fgsm"\n')
    code, _, err = _run(capsys, "bench", "--attack", str(bad))
    assert code == 2 and "[lower, upper]" in err and "[[attack]]" in err.replace("\n", "")


def test_attack_s_old_attack_option_still_works_and_names_its_new_name(tmp_path, capsys):
    out = tmp_path / "adv.npz"
    old = ["attack", "--model", "digits-mlp", "--eps", "0.1", "--attack", "fgsm", "--out", str(out)]
    code, _, err = _run(capsys, *old)
    assert code == 0 and "--attack of `robustkit attack` is now --type" in err
    with np.load(out) as adv:
        assert np.abs(adv["x_adv"] - adv["x"]).max() <= 0.1 + 1e-6 and adv["success"].any()

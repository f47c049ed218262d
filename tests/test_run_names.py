"""A run on the user's own model is theirs: named after the model (or --name), never "default", and the gate
compares it only with a baseline of the same models."""

from __future__ import annotations

import json

import pytest

from robustkit.cli import main

SUITE = 'name = "fgsm-only"\nnorm = "linf"\neps = [0.1]\n\n[[attack]]\nname = "fgsm"\ntype = "fgsm"\n'


@pytest.fixture
def in_tmp(tmp_path, monkeypatch, zoo_cache):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fgsm.toml").write_text(SUITE)
    return tmp_path


@pytest.mark.slow
def test_a_run_on_a_model_is_named_after_it_or_after_name(in_tmp, capsys):
    common = ["--attack", "fgsm.toml", "--limit", "24", "-q"]
    assert main(["bench", "--model", "digits-mlp", *common]) == 0
    results = json.loads((in_tmp / "reports" / "digits-mlp" / "results.json").read_text())
    assert results["suite"]["name"] == "digits-mlp"
    assert "# Robustness report: digits-mlp" in (in_tmp / "reports" / "digits-mlp" / "report.md").read_text()
    assert not (in_tmp / "reports" / "default").exists()
    assert main(["bench", "--model", "digits-mlp", "--name", "nightly", *common]) == 0
    assert (in_tmp / "reports" / "nightly" / "results.json").exists()
    with pytest.raises(SystemExit) as stopped:
        main(["bench", "--model", "digits-mlp", "--name", "../up", *common])
    assert stopped.value.code == 2 and "becomes a folder name" in capsys.readouterr().err


@pytest.mark.slow
def test_the_gate_takes_no_baseline_of_other_models(in_tmp, capsys):
    common = ["--attack", "fgsm.toml", "--limit", "24", "--min-robust-accuracy", "linf:0.1=0", "--name", "mine"]
    assert (
        main(["bench", "--model", "digits-mlp", "--attack", "fgsm.toml", "--limit", "24", "--name", "mine", "-q"]) == 0
    )
    capsys.readouterr()
    assert main(["gate", "--model", "digits-cnn", *common, "--allow-check", "attack-converged"]) == 0
    err = capsys.readouterr().err.replace("\n", " ")
    assert "reports/mine/results.json is a run of digits-mlp, not of digits-cnn: no baseline used" in err
    summary = (in_tmp / "reports" / "mine-gate" / "summary.md").read_text()
    assert "no baseline" in summary
    assert main(["gate", "--model", "digits-mlp", *common, "--allow-check", "attack-converged"]) == 0
    assert "reports/mine/results.json" in (in_tmp / "reports" / "mine-gate" / "summary.md").read_text()


def test_a_table_given_to_an_image_model_is_named_as_one(in_tmp, capsys):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = pd.DataFrame(rng.uniform(0, 1, (1000, 7)), columns=list("abcdefg")).assign(label=rng.integers(0, 2, 1000))
    rows.to_csv(in_tmp / "rows.csv", index=False)
    code = main(["bench", "--model", "digits-cnn", "--data", "rows.csv?label=label", "--attack", "fgsm.toml", "-q"])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 2
    assert "the examples have shape (7,), 7 values each, but the model takes examples of shape (8, 8, 1), 64" in err
    assert "(a table for an image model?)" in err and "(8, 7)" not in err and "reshape" not in err


def test_mce_says_why_it_has_no_value_and_takes_a_baseline_of_the_run(in_tmp, capsys):
    (in_tmp / "c.toml").write_text('[corruptions]\nnames = ["contrast"]\nseverities = [5]\nbaseline = "digits-cnn"\n')
    common = ["bench", "--model", "digits-mlp", "--attack", "c.toml", "--limit", "24"]
    assert main(common) == 0
    why = "mCE shows '-': its baseline digits-cnn is not among this run's models (digits-mlp)"
    assert why in capsys.readouterr().err
    assert why in (in_tmp / "reports" / "digits-mlp" / "report.md").read_text()
    assert main([*common, "--mce-baseline", "digits-mlp"]) == 0
    printed = capsys.readouterr()
    assert "100.0%" in printed.out and "mCE shows" not in printed.err  # the baseline's own errors over themselves

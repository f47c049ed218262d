"""What a new user sees: each mistake gets one message that says what to fix (exit 2, no traceback),
and what they need to know (class names, warnings of the trust checks) reaches the terminal.

One small image folder serves the folder tests: two classes of 10x12 colour images.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from robustkit.attacks import ATTACKS, AutoAttack
from robustkit.cli import main
from robustkit.evaluation.results import read_results
from robustkit.evaluation.suite_files import repository_root
from robustkit.files import atomic_write
from robustkit.outputs.report import write_report

FGSM_SUITE = 'name = "linf"\nnorm = "linf"\neps = ["8/255", "32/255"]\n\n[[attack]]\nname = "fgsm"\ntype = "fgsm"\n'


def _run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _images(root, size=(10, 12), n=6):
    rng = np.random.default_rng(0)
    for label, level in (("bright", 200), ("dark", 40)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            pixels = np.clip(level + rng.integers(-30, 30, (*size, 3)), 0, 255).astype("uint8")
            keras.utils.save_img(root / label / f"{i}.png", pixels, scale=False)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The folder, and a model whose classes are in the other order (dark = 0, bright = 1): set by hand,
    the mean brightness (centred) decides."""
    root = tmp_path_factory.mktemp("photos")
    folder = _images(root / "photos")
    model = keras.Sequential(
        [keras.Input((10, 12, 3)), keras.layers.Rescaling(1 / 127.5, offset=-1), keras.layers.GlobalAveragePooling2D(),
         keras.layers.Dense(2)]
    )  # fmt: skip
    model.layers[-1].set_weights([np.array([[-1.0, 1.0]] * 3, "float32"), np.zeros(2, "float32")])
    model.save(root / "reversed.keras")
    (root / "fgsm.toml").write_text(FGSM_SUITE)
    return folder, root / "reversed.keras", root / "fgsm.toml"


def test_an_unreadable_image_is_named_and_other_files_are_skipped_once(tmp_path, capsys):
    folder = _images(tmp_path / "photos", n=2)
    (folder / "dark" / "broken.png").write_text("not a picture")
    code, _, err = _run(capsys, "bench", "--model", "missing.keras", "--data", str(folder))
    assert code == 2 and "Traceback" not in err
    assert "1 file(s) in the image folder" in err and "dark/broken.png" in err and "cannot be read as images" in err
    (folder / "dark" / "broken.png").unlink()
    (folder / "bright" / "notes.txt").write_text("labels by hand")
    keras.utils.save_img(folder / "bright" / "big.png", np.zeros((20, 12, 3), "uint8"), scale=False)
    code, _, err = _run(capsys, "bench", "--model", "missing.keras", "--data", str(folder))
    assert code == 2 and "Model file 'missing.keras' does not exist" in err  # the data loaded, with warnings:
    assert err.count("Skipped 1 file(s)") == 1 and "bright/notes.txt" in err
    assert "differ in size (10x12, 20x12); all were resized to 10x12, the most common size" in err


@pytest.mark.slow
def test_class_order_the_clean_accuracy_check_and_the_closing_summary(photos, tmp_path, capsys):
    folder, model, suite = photos
    common = ["bench", "--model", str(model), "--data", str(folder), "--attack", str(suite)]
    code, _, err = _run(capsys, *common, "--out", str(tmp_path / "sorted"))
    assert code == 0, err
    assert "Classes: 0 bright, 1 dark (from the data: sorted, as Keras numbers them)." in err
    assert f"trust checks that warn or fail (why and what to do: {tmp_path / 'sorted' / 'report.md'})" in err
    assert "reversed: warn clean-accuracy (0.0% (chance 50.0%)): Clean accuracy near or below chance" in err
    code, _, err = _run(capsys, *common, "--class-names", "dark,bright", "--out", str(tmp_path / "named"))
    assert code == 0, err
    results = read_results(tmp_path / "named" / "results.json")
    assert results["models"]["reversed"]["clean_accuracy"] == 1.0
    assert "Classes: 0 dark, 1 bright (as given)." in (tmp_path / "named" / "report.md").read_text()
    assert "clean-accuracy" not in err
    code, _, err = _run(capsys, *common, "--class-names", "dark,light")
    assert code == 2 and "has classes ['bright'] that the class names ['dark', 'light'] do not list" in err


def test_every_attack_takes_eps_as_a_fraction_of_the_range():
    for name, attack in ATTACKS.items():
        assert attack(eps="8/255", bounds=(0, 255)).eps == 8.0, name
        assert attack(eps="8/255").eps == pytest.approx(8 / 255), name
    assert {a.eps for a in AutoAttack("8/255", bounds=(0.0, 255.0)).attacks} == {8.0}


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "--eps", "-8/255"], "argument --eps: eps must be >= 0, got '-8/255'"),
        (["attack", "--model", "m", "--eps", "-8/255", "--out", "a.npz"], "eps must be >= 0, got '-8/255'"),
        (["bench", "--class-names", "a,,b"], "class names must be non-empty"),
        (["bench", "--eps-scale", "wide"], "eps scale must be std or range"),
    ],
)
def test_usage_errors_say_what_to_fix(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_a_table_with_fraction_eps_names_the_flags(tmp_path, capsys):
    pd.DataFrame({"income": [20000.0, 40000.0], "calls": [1.0, 3.0], "label": [0, 1]}).to_csv(tmp_path / "t.csv")
    code, _, err = _run(capsys, "bench", "--model", "missing.keras", "--data", str(tmp_path / "t.csv"))
    assert code == 2 and "Traceback" not in err
    assert "write eps in input units (--eps 0.1" in err.replace("\n", " ").lower()
    assert "--eps-scale std" in err.replace("\n", " ")


def test_labels_out_of_range_say_which_model_and_data(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3), "float32"), y=np.array([0, 1, 2, 9]))
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(tmp_path / "two.keras")
    code, _, err = _run(capsys, "bench", "--model", str(tmp_path / "two.keras"), "--data", str(tmp_path / "d.npz"))
    assert code == 2
    assert "Model 'two' does not fit the data 'd': its labels lie in [0, 9], but the model has 2 classes" in err


def test_a_rerun_leaves_no_stale_picture_and_files_follow_the_umask(tmp_path):
    results = read_results(repository_root() / "reports" / "default" / "results.json")
    previous = os.umask(0o022)
    try:
        write_report(results, tmp_path)
        assert (tmp_path / "examples.png").exists()
        for name in ("report.md", "results.json", "examples.npz", "examples.png"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
        results["samples"] = []  # a rerun that broke nothing
        write_report(results, tmp_path)
        assert not (tmp_path / "examples.png").exists()
        os.umask(0o077)
        atomic_write(tmp_path / "private.txt", "x")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


def test_suites_fit_an_80_column_terminal(monkeypatch):
    from rich.console import Console

    import robustkit.cli.commands as commands

    screen = io.StringIO()
    monkeypatch.setattr(commands, "out", Console(file=screen, width=80))
    assert main(["suites"]) == 0
    shown = screen.getvalue()
    assert all(len(line) <= 80 for line in shown.splitlines())
    assert "autoattack-linf" in shown and "default" in shown and "attacks/linf.toml" in shown


def test_the_pytest_plugin_names_its_extra_when_pytest_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytest", None)  # what `import pytest` meets where pytest is not installed
    path = repository_root() / "robustkit" / "outputs" / "pytest_plugin.py"
    spec = importlib.util.spec_from_file_location("plugin_without_pytest", path)
    with pytest.raises(ImportError, match=r"pip install 'robustkit\[pytest\]'"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_a_gate_threshold_in_pixels_or_as_a_fraction_is_checked_before_the_run(photos, tmp_path, capsys):
    folder, model, suite = photos
    common = ["gate", "--model", str(model), "--data", str(folder), "--attack", str(suite), "--no-baseline"]
    code, _, err = _run(capsys, *common, "--min-robust-accuracy", "linf:9/255=0.5", "--out", str(tmp_path / "g"))
    assert code == 2 and "eps 9/255 is not in the grid of 'linf' (8/255, 32/255)" in err
    assert not (tmp_path / "g").exists()
    thresholds = ["linf:8/255=0", "linf:32=0"]  # a fraction of the [0, 255] range, and the same eps in pixels
    code, _, err = _run(capsys, *common, "--class-names", "dark,bright", "--min-robust-accuracy", *thresholds,
                        "--out", str(tmp_path / "g"))  # fmt: skip
    assert code == 0, err
    cases = json.dumps(read_results(tmp_path / "g" / "results.json")["summary"])
    assert "linf" in cases
    summary = (tmp_path / "g" / "summary.md").read_text()
    assert "eps=8/255 robust accuracy >= 0.00%" in summary and "eps=32 robust accuracy >= 0.00%" in summary
    shutil.rmtree(tmp_path / "g")

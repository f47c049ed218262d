"""AutoAttack on 2- and 3-class models and on flat inputs; Square's runs of features.

The models are fixed linear maps (no training): logits that depend on the features' sum, and labels
set to the clean prediction, so every example starts correct and some lie near the boundary.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pandas as pd
import pytest

from robustkit.attacks import APGD, APGDT, AutoAttack, Square
from robustkit.attacks.few_classes import for_classes, loss_for_classes
from robustkit.attacks.square_windows import run_lengths
from robustkit.cli import main
from robustkit.errors import RobustkitWarning


def _linear(shape: tuple[int, ...], classes: int) -> keras.Model:
    """Class k's logit rises with the features' mean at rate k: class k wins between thresholds near 0.5."""
    size, slope = int(np.prod(shape)), 40.0
    thresholds = np.linspace(0.5 - 0.03 * (classes - 2), 0.5 + 0.03 * (classes - 2), classes - 1)
    offsets = np.concatenate([[0.0], np.cumsum(slope * thresholds)])
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes)])
    weights = np.tile(slope * np.arange(classes) / size, (size, 1))
    model.layers[-1].set_weights([weights.astype(np.float32), -offsets.astype(np.float32)])
    return model


def _data(model: keras.Model, shape: tuple[int, ...], n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).uniform(0, 1, (n, *shape)).astype(np.float32)
    return x, np.argmax(model.predict(x, verbose=0), axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("classes, version", [(2, "standard"), (2, "fast"), (2, "rand"), (3, "standard"), (3, "rand")])
def test_autoattack_runs_on_two_and_three_classes_with_flat_inputs(classes, version):
    model = _linear((12,), classes)
    x, y = _data(model, (12,))
    assert len(set(y.tolist())) == classes  # every class occurs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = AutoAttack(0.15, version=version, steps=5, queries=30, seed=0).run(model, x, y)
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, RobustkitWarning))
    apgd = APGD(eps=0.15, steps=5, seed=0).run(model, x, y)
    assert result.robust_accuracy <= apgd.robust_accuracy  # the ensemble is at least its first attack
    assert result.robust_accuracy < 1.0 and np.abs(result.x_adv.numpy() - x).max() <= 0.15
    assert apgd.robust_accuracy > 0  # survivors: the later attacks (APGD-T, APGD-DLR) run
    if version == "rand":
        assert ("instead of its loss 'dlr'" in said) == (classes == 2)  # APGD-DLR's loss needs 3 classes
    else:
        assert "instead of its loss 'dlr-targeted', which needs at least 4 classes" in said


def test_four_or_more_classes_keep_the_dlr_losses():
    attack = APGDT(eps=0.1)
    assert for_classes(attack, 4) is attack and for_classes(attack, 10).loss == "dlr-targeted"
    assert for_classes(attack, 3).loss == "gap-targeted" and attack.loss == "dlr-targeted"  # a copy changes
    assert loss_for_classes("dlr", 3) == "dlr" and loss_for_classes("dlr", 2) == "margin"


@pytest.mark.slow
def test_a_binary_table_through_autoattack_on_the_command_line_and_in_a_report(tmp_path, capsys):
    model = _linear((5,), 2)
    x, y = _data(model, (5,), 40)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]).assign(label=np.where(y == 1, "yes", "no"))
    frame.to_csv(tmp_path / "t.csv", index=False)
    model.save(tmp_path / "m.keras")
    common = ["--model", str(tmp_path / "m.keras"), "--data", str(tmp_path / "t.csv")]
    for version, substituted in (("standard", "dlr-targeted"), ("fast", "dlr-targeted"), ("rand", "dlr")):
        out = tmp_path / f"{version}.npz"
        code = main(["attack", *common, "--type", "autoattack", "--ensemble", version, "--eps", "0.2", "--steps", "3"]
                    + ["--out", str(out)])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 0 and "Traceback" not in err, err
        assert f"instead of its loss '{substituted}'" in err.replace("\n", " ")
        assert np.abs(np.load(out)["x_adv"] - x).max() <= 0.2 + 1e-6
    suite = tmp_path / "aa.toml"
    suite.write_text(
        'name = "aa"\nnorm = "linf"\neps = [0.2]\nchain = true\n\n'
        '[[attack]]\nname = "apgd-ce"\ntype = "apgd"\nsteps = 5\n\n'
        '[[attack]]\nname = "apgd-t"\ntype = "apgd-t"\nsteps = 5\n'
    )
    code = main(["bench", *common, "--attack", str(suite), "--out", str(tmp_path / "r"), "-q"])
    assert code == 0, capsys.readouterr().err
    report = (tmp_path / "r" / "report.md").read_text()
    assert "m: aa/apgd-t uses the targeted margin z_t - z_y instead of its loss 'dlr-targeted'" in report
    assert "Classes: 0 no, 1 yes" in report


def test_run_lengths_by_hand():
    runs = run_lengths(1000, 20)
    assert runs[0] == 16 and runs[-1] == 1 and max(runs) <= 19  # 0.8 of 20, halving down to one feature
    assert run_lengths(10, 1) == [1] * 10  # one feature: runs of one


@pytest.mark.slow
@pytest.mark.parametrize(
    "shape, norm, eps", [((24,), "l2", 0.4), ((8, 3), "linf", 0.1)], ids=["features-l2", "sequence-linf"]
)
def test_square_runs_break_flat_and_sequence_models_inside_the_ball(shape, norm, eps):
    model = _linear(shape, 3)
    x, y = _data(model, shape)
    result = Square(eps=eps, norm=norm, queries=150, seed=0).run(model, x, y)
    delta = (result.x_adv.numpy().astype(np.float64) - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta**2).sum(axis=1))
    assert np.all(size <= eps) and np.all(result.x_adv.numpy() >= 0) and np.all(result.x_adv.numpy() <= 1)
    assert result.robust_accuracy < 0.9 and int(result.grad_evals.sum()) == 0
    again = Square(eps=eps, norm=norm, queries=150, seed=0, early_stop=True).run(model, x, y)
    assert np.array_equal(again.success, result.success)  # early stopping changes the work, not the answer

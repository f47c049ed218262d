"""Feature constraints are guarantees like the ball: every attack, every norm, any data the bounds allow.

A churn-like table: age (immutable), support calls (integer), an income near 33,000 and a plan
one-hot encoded in three columns, each feature with its own eps scale. Hypothesis draws the rows,
eps, the seed and the labels; the constraints are fixed (they are part of a compiled attack). Every
returned example must keep age, hold an integer count and one valid plan, and lie inside the
per-feature ball (``|delta_i| <= eps * scale_i`` under L-inf, ``||delta / scale|| <= eps`` otherwise,
in float64 from the returned arrays) and the bounds.
"""

from __future__ import annotations

import json

import keras
import ml_dtypes
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.attacks import APGD, APGDT, FAB, FGSM, FMN, PGD, AutoAttack, Square
from robustkit.cli import main
from robustkit.constraints import FeatureSpec
from robustkit.errors import ConfigError, DataError
from robustkit.sources.data import load_data

NAMES = ["age", "support_calls", "income", "plan_a", "plan_b", "plan_c"]
LOWER = np.array([18.0, 0.0, 15000.0, 0.0, 0.0, 0.0])
UPPER = np.array([90.0, 40.0, 60000.0, 1.0, 1.0, 1.0])
SPEC = FeatureSpec((5.0, 1.5, 4000.0, 0.6, 0.6, 0.6), ("age",), ("support_calls",), (("plan_a", "plan_b", "plan_c"),))
CONSTRAINTS = SPEC.resolve(NAMES, np.array([[30.0, 2.0, 33000.0, 1.0, 0.0, 0.0]]), (LOWER, UPPER))


def _model() -> keras.Model:
    keras.utils.set_random_seed(3)
    centre, spread = (LOWER + UPPER) / 2, UPPER - LOWER
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Rescaling(scale=1.0 / spread, offset=-centre / spread),
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(3),
        ]
    )


MODEL = _model()
KINDS = {
    "fgsm": lambda common: FGSM(random_start=True, **common),
    "pgd": lambda common: PGD(steps=3, random_start=True, **common),
    "apgd": lambda common: APGD(steps=4, **common),
    "apgd-t": lambda common: APGDT(steps=3, n_targets=2, **common),
    "fab": lambda common: FAB(steps=3, n_targets=2, **common),
    "square": lambda common: Square(queries=8, **common),
    "fmn": lambda common: FMN(steps=3, n_targets=1, **common),
    "autoattack": lambda common: AutoAttack(
        version="fast" if common["norm"] == "l1" else "standard", steps=3, n_targets=2, queries=8, **common
    ),
}
CASES = [(kind, norm) for kind in KINDS for norm in ("linf", "l2", "l1") if not (kind == "square" and norm == "l1")]


@st.composite
def tables(draw, low: float = 15000, high: float = 60000):
    n = draw(st.integers(1, 6))
    age = draw(st.lists(st.integers(18, 90), min_size=n, max_size=n))
    calls = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    income = draw(st.lists(st.floats(low, high, width=32), min_size=n, max_size=n))
    plan = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    x = np.column_stack([age, calls, income, np.eye(3)[plan]]).astype(np.float32)
    y = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    eps = draw(st.floats(0.05, 4.0))
    return x, y, eps, draw(st.integers(0, 2**16))


@pytest.mark.parametrize("kind, norm", CASES, ids=[f"{k}-{n}" for k, n in CASES])
@settings(max_examples=3)
@given(problem=tables())
def test_every_attack_keeps_every_constraint(kind, norm, problem):
    x, y, eps, seed = problem
    attack = KINDS[kind](dict(eps=eps, norm=norm, bounds=(LOWER, UPPER), seed=seed)).with_constraints(CONSTRAINTS)
    result = attack.run(MODEL, x, y)
    adv = result.x_adv.numpy().astype(np.float64)
    delta = adv - x.astype(np.float64)
    assert np.all(np.isfinite(adv))
    assert np.array_equal(adv[:, 0], x[:, 0]), "an immutable feature moved"
    assert np.all(np.mod(adv[:, 1], 1) == 0), "an integer feature is not an integer"
    assert np.all(np.isin(adv[:, 3:], [0.0, 1.0])) and np.all(adv[:, 3:].sum(axis=1) == 1), "a plan is not one-hot"
    assert np.all(adv >= LOWER) and np.all(adv <= UPPER)
    units = delta / np.where(CONSTRAINTS.radius > 0, CONSTRAINTS.radius, 1.0)
    size = {"linf": np.abs(units).max(axis=1), "l2": np.sqrt((units**2).sum(axis=1)), "l1": np.abs(units).sum(axis=1)}
    assert np.all(size[norm] <= eps), (size[norm], eps)
    assert np.allclose(result.norms, size[norm], rtol=1e-9, atol=0)  # the reported norms are these


def test_the_scale_lets_each_feature_move_by_its_own_eps():
    """PGD at L-inf eps 1 moves income by up to 4000 and a count by up to 1.5 (rounded: 1)."""
    x = np.array([[40.0, 3.0, 33000.0, 0.0, 1.0, 0.0]] * 4, np.float32)
    y = np.argmax(MODEL.predict(x, verbose=0), axis=1)
    result = PGD(eps=1.0, steps=20, bounds=(LOWER, UPPER), seed=0).with_constraints(CONSTRAINTS).run(MODEL, x, y)
    delta = np.abs(result.x_adv.numpy() - x)
    assert delta[:, 2].max() > 1000 and delta[:, 2].max() <= 4000
    assert delta[:, 1].max() <= 1 and delta[:, 0].max() == 0


def test_bad_constraints_say_what_to_fix():
    x = np.array([[30.0, 2.5, 33000.0, 1.0, 0.0, 0.0]])
    with pytest.raises(DataError, match="declared integer but the data holds non-integer values"):
        SPEC.resolve(NAMES, x, (LOWER, UPPER))
    with pytest.raises(ConfigError, match="Unknown feature 'salary'; its columns are age, support_calls"):
        FeatureSpec(immutable=("salary",)).resolve(NAMES, x, (LOWER, UPPER))
    with pytest.raises(DataError, match="exactly one 1"):
        FeatureSpec(one_hot=(("plan_a", "plan_b"),)).resolve(NAMES, np.array([[0, 0, 0, 1, 1, 0.0]]), (LOWER, UPPER))
    with pytest.raises(ConfigError, match="6 finite numbers >= 0"):
        FeatureSpec((1.0, 2.0)).resolve(NAMES, x, (LOWER, UPPER))


def _churn(folder):
    rng = np.random.default_rng(0)
    n = 120
    calls, income, plan = rng.poisson(3, n), rng.normal(33000, 6000, n).round(2), rng.integers(0, 3, n)
    score = 0.5 * calls - (income - 33000) / 4000 + (plan == 2) + rng.normal(0, 0.5, n)
    frame = pd.DataFrame(
        {"age": rng.integers(18, 80, n), "support_calls": calls, "income": income, "plan_a": (plan == 0) * 1,
         "plan_b": (plan == 1) * 1, "plan_c": (plan == 2) * 1, "label": np.where(score > 1.5, "churn", "stay")}
    )  # fmt: skip
    frame.to_csv(folder / "churn.csv", index=False)
    data = load_data(str(folder / "churn.csv"))
    keras.utils.set_random_seed(0)
    scale = keras.layers.Normalization()
    scale.adapt(data.x_test)
    model = keras.Sequential(
        [keras.Input((6,)), scale, keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_test, data.y_test, epochs=40, verbose=0)
    model.save(folder / "churn.keras")
    return data


@pytest.mark.slow
def test_a_churn_table_with_all_four_constraints_through_bench(tmp_path, capsys):
    data = _churn(tmp_path)
    suite = tmp_path / "pgd.toml"
    suite.write_text(
        'name = "pgd"\nnorm = "linf"\neps = [0.5, 1.0]\n\n[[attack]]\nname = "pgd"\ntype = "pgd"\nsteps = 10\n'
        "random_start = true\n"
    )
    out = tmp_path / "report"
    args = ["bench", "--model", str(tmp_path / "churn.keras"), "--data", str(tmp_path / "churn.csv")]
    args += ["--attack", str(suite), "--eps-scale", "std", "--immutable", "age", "--integer", "support_calls"]
    args += ["--one-hot", "plan_a,plan_b,plan_c", "--out", str(out)]
    code = main(args)
    printed = capsys.readouterr()
    err = printed.err
    assert code == 0, err
    # the unit of eps, said in the terminal, the report and summary.csv
    assert "0.5 x std per feature" in printed.out
    assert set(pd.read_csv(out / "summary.csv")["eps_unit"]) == {"x std per feature"}
    report = (out / "report.md").read_text()
    assert "eps in x std per feature: feature i moves by at most eps times its own scale" in report
    assert "Constraints in force: eps per feature: eps times each feature's standard deviation" in err
    assert "immutable: age; integer: support_calls; one-hot: plan_a, plan_b, plan_c" in err
    results = json.loads((out / "results.json").read_text())
    constraints = results["suite"]["attack_suites"][0]["constraints"]
    # The closed form: each column's population standard deviation in the table, age pinned (immutable).
    table = pd.read_csv(tmp_path / "churn.csv")
    spread = np.array([0.0] + [table[c].std(ddof=0) for c in NAMES[1:]])
    np.testing.assert_allclose(constraints["radius"], spread, rtol=1e-6)  # the table is read in float32
    assert constraints["integer"] == [1] and constraints["one_hot"] == [[3, 4, 5]]
    assert "Constraints in force" in report and "Classes: 0 churn, 1 stay" in report
    assert "| model | example | attack | feature | before | after | change |" in report  # a table, not pixels
    assert not (out / "examples.png").exists()
    samples = results["samples"]
    assert samples, "the constrained attack broke nothing: the test needs a model it can break"
    for sample in samples:
        x, adv = np.array(sample["x"]), np.array(sample["x_adv"])
        assert adv[0] == x[0] and adv[1] == round(adv[1]) and sorted(adv[3:]) == [0.0, 0.0, 1.0]
        assert np.all(np.abs(adv - x) <= sample["eps"] * spread + 1e-9)
    assert data.info["features"] == ["age", "support_calls", "income", "plan_a", "plan_b", "plan_c"]
    # the same attack through `robustkit attack`, by flag
    npz = tmp_path / "adv.npz"
    args = ["attack", "--model", str(tmp_path / "churn.keras"), "--data", str(tmp_path / "churn.csv"), "--eps", "1"]
    args += ["--eps-scale", "std", "--immutable", "age", "--integer", "support_calls", "-q", "--out", str(npz)]
    assert main(args) == 0
    arrays = np.load(npz)
    assert np.array_equal(arrays["x_adv"][:, 0], data.x_test[:, 0])
    assert np.all(np.mod(arrays["x_adv"][:, 1], 1) == 0)
    # a feature the table does not have: the flag's message names the columns, exit 2
    args = ["attack", "--model", str(tmp_path / "churn.keras"), "--data", str(tmp_path / "churn.csv"), "--eps", "1"]
    code = main([*args, "--immutable", "salary", "--out", str(npz)])
    assert code == 2 and "Unknown feature 'salary'; its columns are age" in capsys.readouterr().err


def test_one_hot_groups_and_integers_work_on_any_model_by_index():
    """Feature names are a table's; any model takes flat indices."""
    x = np.array([[0.2, 3.0, 1.0, 0.0]], np.float32)
    rule = FeatureSpec(integer=("1",), one_hot=(("2", "3"),)).resolve(None, x, (0.0, 10.0))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_initializer="ones")])
    adv = PGD(eps=2.0, steps=5, bounds=(0.0, 10.0)).with_constraints(rule).run(model, x, [0]).x_adv.numpy()
    assert adv[0, 1] == round(float(adv[0, 1])) and sorted(adv[0, 2:].tolist()) == [0.0, 1.0]
    assert tf.reduce_all(tf.abs(adv - x) <= 2.0)


DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("kind, norm", [("pgd", "linf"), ("fmn", "l2")])
@settings(max_examples=2)
@given(problem=tables(16384.0, 57344.0))  # ends every dtype holds: rounding stays inside the bounds
def test_the_constraints_hold_in_every_float_dtype(dtype, kind, norm, problem):
    """Incomes near 60,000 are where float16 and bfloat16 round coarsely (spacing 32 and 256)."""
    x, y, eps, seed = problem
    x = x.astype(DTYPES[dtype])
    attack = KINDS[kind](dict(eps=eps, norm=norm, bounds=(LOWER, UPPER), seed=seed)).with_constraints(CONSTRAINTS)
    adv = attack.run(MODEL, x, y).x_adv.numpy().astype(np.float64)
    delta = adv - x.astype(np.float64)
    assert np.array_equal(adv[:, 0], x[:, 0].astype(np.float64)) and np.all(np.mod(adv[:, 1], 1) == 0)
    assert np.all(np.isin(adv[:, 3:], [0.0, 1.0])) and np.all(adv[:, 3:].sum(axis=1) == 1)
    units = delta / np.where(CONSTRAINTS.radius > 0, CONSTRAINTS.radius, 1.0)
    size = np.abs(units).max(axis=1) if norm == "linf" else np.sqrt((units**2).sum(axis=1))
    assert np.all(size <= eps) and np.all(adv >= LOWER) and np.all(adv <= UPPER)

"""AutoAttack-style ensembles: each attack on the survivors of the ones before, and who broke what."""

from __future__ import annotations

import numpy as np
import pytest

from robustkit.attacks import APGD, AutoAttack, Square
from robustkit.errors import ConfigError


@pytest.mark.slow
def test_each_attack_runs_on_the_survivors_and_is_credited(digits, digits_cnn_pgd):
    x, y = digits.x_test[:200], digits.y_test[:200]  # enough examples that APGD-T finds some APGD-CE missed
    ensemble = AutoAttack(eps=0.15, version="fast", steps=10, n_targets=3, seed=0)
    result = ensemble.run(digits_cnn_pgd, x, y)
    alone = APGD(eps=0.15, steps=10, seed=0, early_stop=True).run(digits_cnn_pgd, x, y)
    np.testing.assert_array_equal(result.success[alone.success], True)  # the first attack is the same run
    assert result.robust_accuracy < alone.robust_accuracy  # APGD-T breaks more
    credited = ensemble.contributions(result)
    assert credited["apgd-ce"] == int(np.sum(alone.success & alone.clean_correct))
    assert credited["apgd-t"] == int(np.sum(result.success & ~alone.success)) > 0
    assert set(result.broken_by[~result.success]) == {""}
    # APGD-T spent nothing on what APGD-CE had broken.
    np.testing.assert_array_equal(result.grad_evals[alone.success], alone.grad_evals[alone.success])


def test_a_custom_list_and_the_versions(digits, digits_cnn):
    x, y = digits.x_test[:40], digits.y_test[:40]
    custom = AutoAttack(eps=0.1, attacks=[APGD(eps=0.1, steps=5, seed=0), Square(eps=0.1, queries=50, seed=0)])
    result = custom.run(digits_cnn, x, y)
    assert custom.names == ["apgd-ce", "square"] and sum(custom.contributions(result).values()) > 0
    assert np.abs(result.x_adv.numpy() - x).max() <= 0.1 + 1e-6
    assert AutoAttack(eps=0.1).names == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert AutoAttack(eps=0.1, version="fast").names == ["apgd-ce", "apgd-t"]
    with pytest.raises(ConfigError, match="version must be one of .standard., .fast., .rand., got .strong."):
        AutoAttack(eps=0.1, version="strong")
    with pytest.raises(ConfigError, match="must differ"):
        AutoAttack(eps=0.1, attacks=[APGD(eps=0.1), APGD(eps=0.1)])


def _chain_suites(chain: bool):
    from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite

    attacks = (
        AttackSpec("apgd-ce", "apgd", "linf", steps=2, random_start=True),  # weak: the later attacks add breaks
        AttackSpec("fab-t", "fab", "linf", steps=5, random_start=True, n_targets=2),
        AttackSpec("square", "square", "linf", steps=40, random_start=True, loss="margin"),
    )
    suite = AttackSuite("aa", "linf", (0.02, 0.04, 0.06), attacks, chain=chain)
    return BenchmarkSuite(
        "chain", "digits", ["tests.check_models:nearest_mean"], [suite], limit=90, checks=False, shard_size=45
    )


@pytest.mark.slow
def test_a_chained_suite_attacks_only_the_survivors_and_finds_the_same_worst_case(tmp_path, monkeypatch):
    """On a model that computes each example alike in any batch, chaining changes the work, never the verdicts."""
    from robustkit.evaluation.evaluation_kinds import compute_shard, shard_tasks
    from robustkit.evaluation.results_columns import example_columns
    from robustkit.evaluation.runner import run_benchmark

    monkeypatch.chdir(tmp_path)
    chained = run_benchmark(_chain_suites(True), tmp_path / "chained")
    alone = run_benchmark(_chain_suites(False), tmp_path / "alone")
    a, b = example_columns(chained.results), example_columns(alone.results)
    prefix = next(k for k in a if k.endswith("/aa/worst-case/broken_eps")).rsplit("/", 2)[0]
    np.testing.assert_array_equal(a[f"{prefix}/worst-case/broken_eps"], b[f"{prefix}/worst-case/broken_eps"])
    # Each row is cumulative: the smallest eps at which it or any attack before it breaks the example.
    names = ("apgd-ce", "fab-t", "square")
    for k, name in enumerate(names):
        alone_first = np.min([np.nan_to_num(b[f"{prefix}/{n}/broken_eps"], nan=np.inf) for n in names[: k + 1]], axis=0)
        np.testing.assert_array_equal(np.nan_to_num(a[f"{prefix}/{name}/broken_eps"], nan=np.inf), alone_first)
    # ... and the later attacks worked only on the survivors.
    work = {name: a[f"{prefix}/{name}/grad_evals"].sum() for name in ("apgd-ce", "fab-t")}
    assert work["fab-t"] < b[f"{prefix}/fab-t/grad_evals"].sum()
    broken_by = a[f"{prefix}/worst-case/broken_by"]
    assert (
        set(broken_by[~np.isnan(a[f"{prefix}/square/broken_eps"])]) <= {"apgd-ce", "fab-t", "square"}
        and (broken_by == "apgd-ce").any()
    )
    # A chained suite is one task per shard for an executor; cells it saved are reused as they are.
    suite = _chain_suites(True)
    tasks = shard_tasks(suite, 90)
    assert [t.method for t in tasks] == ["square", "square"]
    for task in tasks:
        compute_shard(suite, tmp_path / "tasks", task)
    assembled = run_benchmark(suite, tmp_path / "tasks")
    assert assembled.cells_computed == 0
    c = example_columns(assembled.results)
    for key in a:
        assert np.array_equal(a[key], c[key], equal_nan=a[key].dtype.kind == "f"), key


def test_autoattack_is_a_registered_attack_built_by_name_like_any_other(digits, digits_cnn):
    from robustkit.attacks import ATTACKS, build_attack
    from robustkit.attacks.kinds import kind_of
    from robustkit.outputs.testing import RobustnessError, assert_robust

    x, y = digits.x_test[:30], digits.y_test[:30]
    built = build_attack("autoattack", eps=0.1, version="fast", steps=3, n_targets=2, seed=0)
    assert type(built) is ATTACKS["autoattack"] is AutoAttack and kind_of(built) == "ensemble"
    assert built.names == ["apgd-ce", "apgd-t"] and [a.steps for a in built.attacks] == [3, 3]
    with pytest.raises(ConfigError, match="version must be one of"):
        build_attack("autoattack", eps=0.1, version="strong")
    with pytest.raises(ConfigError, match="takes no setting 'loss'"):
        build_attack("autoattack", eps=0.1, loss="ce")
    # assert_robust builds it by name too; at eps 0 nothing breaks, at 0.3 the CNN falls to AutoAttack
    assert assert_robust(digits_cnn, x, y, eps=0.0, min_accuracy=0.0, attack="autoattack", version="fast", steps=3)
    with pytest.raises(RobustnessError, match=r"autoattack \(linf, eps=0.3\)"):
        assert_robust(digits_cnn, x, y, eps=0.3, min_accuracy=0.5, attack="autoattack", version="fast", steps=3)


def test_a_suite_names_an_ensemble_by_its_table_not_as_one_attack(tmp_path):
    from robustkit.evaluation.attack_suites import load_attack_suite

    path = tmp_path / "aa.toml"
    path.write_text('norm = "linf"\neps = [0.1]\n[[attack]]\ntype = "autoattack"\n')
    with pytest.raises(ConfigError, match=r"autoattack is an ensemble; name it in an \[autoattack\] table"):
        load_attack_suite(str(path))

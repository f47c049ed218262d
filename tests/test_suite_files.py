"""Suite files: the shipped ones load, and every bad key or value names file, key and fix."""

from __future__ import annotations

import pytest

from robustkit.errors import ConfigError
from robustkit.evaluation.corruption_suites import CorruptionSuite
from robustkit.evaluation.suite_files import repository_root
from robustkit.evaluation.suites import (
    CertificationSuite,
    VerificationSuite,
    load_attack_suite,
    load_benchmark_suite,
    load_evaluation_suite,
)


def test_shipped_suites_load():
    for path in sorted((repository_root() / "attacks").glob("*.toml")):
        suite = load_evaluation_suite(str(path))
        if isinstance(suite, CertificationSuite):  # a file with a [smoothing] table
            assert suite.radius == tuple(sorted(suite.radius)) and suite.sigma
            continue
        if isinstance(suite, VerificationSuite):  # a file with a [verification] table
            assert suite.eps == tuple(sorted(suite.eps)) and suite.bounds_method in ("ibp", "crown", "best")
            continue
        if isinstance(suite, CorruptionSuite):  # a file with a [corruptions] table
            assert suite.corruptions and suite.severities == tuple(sorted(suite.severities))
            continue
        attack_suite = load_attack_suite(str(path))
        assert attack_suite.eps == tuple(sorted(attack_suite.eps)) and attack_suite.attacks
    default = load_benchmark_suite("default")
    assert default.name == "default" and default.data == "digits"
    assert {t.norm for t in default.attack_suites} >= {"linf", "l2"}


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD_ATTACK = 'name = "t"\nnorm = "linf"\neps = [0.1]\n[[attack]]\ntype = "pgd"\n'


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD_ATTACK + "colour = 1\n", r"unknown key 'colour' in \[\[attack\]\] #1. Allowed keys: name"),
        ('nrom = "linf"\n' + GOOD_ATTACK, r"unknown key 'nrom' in the top level"),
        (GOOD_ATTACK.replace('"linf"', '"l7"'), r"key 'norm' has the bad value 'l7'; allowed: linf, l2, l1"),
        (GOOD_ATTACK.replace("[0.1]", "[-0.1]"), r"key 'eps' has the bad value -0.1; allowed: numbers >= 0"),
        (GOOD_ATTACK.replace("[0.1]", "[]"), r"key 'eps' has the bad value \[\]"),
        (GOOD_ATTACK.replace("[0.1]", "[0.1, 0.1]"), r"distinct numbers"),
        (GOOD_ATTACK.replace('"pgd"', '"cw"'), r"key 'type' has the bad value 'cw'; allowed: fgsm or pgd"),
        (GOOD_ATTACK + "steps = 0\n", r"key 'steps' has the bad value 0; allowed: an integer >= 1"),
        (GOOD_ATTACK + "step_size = -1\n", r"key 'step_size' has the bad value -1; allowed: a number > 0"),
        (GOOD_ATTACK + "loss = 'hinge'\n", r"key 'loss' has the bad value 'hinge'"),
        (GOOD_ATTACK + "restarts = 2\nrandom_start = false\n", r"key 'restarts' has the bad value 2"),
        (GOOD_ATTACK + "step_size = 0.1\nrel_step_size = 0.1\n", r"sets both step_size and rel_step_size"),
        (GOOD_ATTACK.replace('type = "pgd"', 'type = "fgsm"\nsteps = 3'), r"1 for fgsm"),
        ('norm = "linf"\neps = [0.1]\n', r"no \[\[attack\]\] tables"),
        ("norm = 'linf\n", r"not valid TOML"),
        (GOOD_ATTACK + "sparsity = 0.1\n", r"key 'sparsity'.*for norm = 'l1' only"),
        (GOOD_ATTACK + 'name = "worst-case"\n', r"'worst-case' is reserved"),
    ],
)
def test_bad_attack_suites(tmp_path, text, message):
    path = _write(tmp_path, "bad.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_attack_suite(path)
    assert "bad.toml" in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('models = ["digits-cnn"]\nattacks = ["linf"]\nmodle = 1\n', r"unknown key 'modle' in the top level"),
        ('attacks = ["linf"]\n', r"key 'models' has the bad value None; allowed: a non-empty list of strings"),
        ('models = ["digits-cnn"]\nattacks = ["nope"]\n', r"No suite named 'nope' in attacks/"),
        ('models = ["digits-cnn"]\nattacks = ["linf"]\nseed = -1\n', r"key 'seed' has the bad value -1"),
        ('models = ["digits-cnn"]\nattacks = ["linf"]\nlimit = 0\n', r"key 'limit' has the bad value 0"),
        ('models = []\nattacks = ["linf"]\n', r"key 'models' has the bad value \[\]"),
    ],
)
def test_bad_benchmark_suites(tmp_path, text, message):
    path = _write(tmp_path, "suite.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_benchmark_suite(path)
    assert "suite.toml" in str(info.value)


def test_unknown_suite_names_list_the_available_ones():
    with pytest.raises(ConfigError, match=r"No suite named 'nope' in benchmarks/; available: .*default"):
        load_benchmark_suite("nope")


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_benchmark_suite("/nonexistent/suite.toml")


def test_an_attack_s_own_settings_are_suite_keys_read_from_its_class(tmp_path):
    """rho (APGD) and p_init (Square) are keys because the classes take them, checked by the classes."""
    head = 'name = "own"\nnorm = "linf"\neps = [0.1]\n\n[[attack]]\n'
    suite = load_attack_suite(
        _write(tmp_path, "own.toml", head + 'type = "apgd"\nrho = 0.5\n\n[[attack]]\ntype = "square"\np_init = 0.3\n')
    )
    apgd, square = suite.attacks
    assert apgd.settings(0.1)["rho"] == 0.5 and square.settings(0.1)["p_init"] == 0.3
    assert apgd.config()["extra"] == {"rho": 0.5} and "extra" not in load_attack_suite("linf").attacks[0].config()
    with pytest.raises(ConfigError, match=r"bad.toml: \[\[attack\]\] #1: rho must be a number in \(0, 1\]"):
        load_attack_suite(_write(tmp_path, "bad.toml", head + 'type = "apgd"\nrho = 5\n'))
    with pytest.raises(ConfigError, match=r"unknown key 'rho' in \[\[attack\]\] #1"):
        load_attack_suite(_write(tmp_path, "other.toml", head + 'type = "pgd"\nrho = 0.5\n'))


def test_an_autoattack_table_runs_the_class_s_own_list_chained(tmp_path):
    from robustkit.attacks import AutoAttack

    suite = load_attack_suite("autoattack-linf")
    ensemble = AutoAttack(eps=0.1, norm="linf")
    assert suite.chain and [a.name for a in suite.attacks] == ensemble.names
    assert [a.type for a in suite.attacks] == [a.name for a in ensemble.attacks]
    assert [a.steps for a in suite.attacks] == [100, 100, 100, 5000]

    path = tmp_path / "fast.toml"
    path.write_text('norm = "l1"\neps = [1.0]\n[autoattack]\nversion = "fast"\nsteps = 7\nn_targets = 2\n')
    fast = load_attack_suite(str(path))
    assert [(a.name, a.steps, a.n_targets) for a in fast.attacks] == [("apgd-ce", 7, None), ("apgd-t", 7, 2)]
    for body, message in (
        ('[autoattack]\nversion = "standard"\n', "Square, which has no L1 version"),
        ('[autoattack]\nversion = "slow"\n', "Unknown version 'slow'"),
        ("[autoattack]\nstep = 3\n", "step"),
        ('chain = false\n[autoattack]\nversion = "fast"\n', "run chained"),
        ('[autoattack]\n[[attack]]\ntype = "pgd"\n', "keep one"),
    ):
        path.write_text('norm = "l1"\neps = [1.0]\n' + body)
        with pytest.raises(ConfigError, match=message):
            load_attack_suite(str(path))

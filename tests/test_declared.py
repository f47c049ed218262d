"""An attack's allowed values are declared once, next to its signature, and checked from there."""

import inspect

import pytest

from robustkit.attacks import ATTACKS
from robustkit.attacks.declared import Interval, OneOf
from robustkit.errors import ConfigError
from robustkit.evaluation.attack_suite_keys import own_settings


def test_every_declared_constraint_names_a_setting_of_the_signature_and_allows_its_default():
    for name, attack in ATTACKS.items():
        parameters = attack.parameters()
        for setting, constraint in attack._constraints().items():
            if setting not in parameters:
                continue  # declared by a base class for the subclasses that take it
            default = parameters[setting].default
            assert default in (None, inspect.Parameter.empty) or constraint.allows(default), (name, setting, default)


@pytest.mark.parametrize(
    ("constraint", "good", "bad", "words"),
    [
        (Interval(0, 1, closed="right"), [1, 0.5], [0, 1.5, True, float("nan"), "0.5"], "a number in (0, 1]"),
        (Interval(1, integer=True), [1, 7], [0, 2.5, None], "an integer >= 1"),
        (Interval(0, 1, closed="neither"), [0.5], [0, 1], "a number in (0, 1)"),
        (Interval(high=2), [-3, 2], [2.01, float("inf")], "a number <= 2"),
        (OneOf(("linf", "l2")), ["l2"], ["l1"], "one of 'linf', 'l2'"),
    ],
)
def test_constraints_allow_and_describe(constraint, good, bad, words):
    assert all(constraint.allows(v) for v in good) and not any(constraint.allows(v) for v in bad)
    assert constraint.describe() == words


def test_a_bad_value_is_refused_by_the_declaration_and_the_suite_keys_quote_it():
    with pytest.raises(ConfigError, match=r"rho must be a number in \(0, 1\], got 2"):
        ATTACKS["apgd"](eps=0.1, rho=2)
    with pytest.raises(ConfigError, match=r"p_init must be a number in \(0, 1\], got 0"):
        ATTACKS["square"](eps=0.1, p_init=0)
    assert own_settings("apgd")["rho"] == "apgd's own setting (default 0.75; a number in (0, 1])"


SETTINGS = [(name, setting) for name, attack in ATTACKS.items() for setting in attack.parameters()]


@pytest.mark.parametrize(("name", "setting"), SETTINGS, ids=[f"{n}-{s}" for n, s in SETTINGS])
def test_every_setting_of_every_registered_attack_is_declared_and_refuses_bad_values_by_name(name, setting):
    """Each value a declaration names as invalid is refused when the class is built, with an error that
    names the setting (in the declaration's words, or the package validator's where it says more: the
    choices of a norm, why bounds are wrong); the default is allowed."""
    attack = ATTACKS[name]
    constraint = attack.constraint(setting)
    assert constraint is not None, f"{name}'s setting {setting!r} declares no allowed values"
    default = attack.parameters()[setting].default
    assert default is inspect.Parameter.empty or constraint.allows(default), (name, setting, default)
    base = {} if setting == "eps" else {"eps": 0.1}
    invalid = constraint.invalid()
    assert invalid, (name, setting)
    for value in invalid:
        with pytest.raises(ConfigError) as refused:
            attack(**base, **{setting: value})
        assert setting in str(refused.value), (name, setting, value, str(refused.value))


def test_the_check_runs_once_before_the_constructor_and_reads_positional_settings_too():
    with pytest.raises(ConfigError, match=r"^steps must be an integer >= 1, got 0"):
        ATTACKS["pgd"](0.1, 0)  # eps and steps by position
    assert ATTACKS["pgd"](0.1, 3).steps == 3

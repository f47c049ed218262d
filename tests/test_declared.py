"""An attack's allowed values are declared once, next to its signature, and checked from there."""

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
            assert default is None or constraint.allows(default), (name, setting, default)


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

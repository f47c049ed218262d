"""Each attack declares its kind, and keeps that kind's protocol (robustkit.attacks.kinds)."""

import pytest

from robustkit.attacks import ATTACKS, PGD, AutoAttack, Square, build_attack
from robustkit.attacks.kinds import kind_of
from robustkit.errors import ConfigError


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_registered_attack_keeps_the_protocol_of_its_kind(name):
    attack = ATTACKS[name](eps=0.1)
    assert kind_of(attack) == ATTACKS[name].kind
    if attack.kind == "minimum-norm":
        with pytest.raises(ConfigError, match="no step rule"):
            attack.step_rule()


def test_a_class_that_breaks_its_kinds_protocol_is_refused():
    class GradientFree(PGD):
        kind = "score"  # but its step rule asks for gradients, and it has no query budget

    with pytest.raises(ConfigError, match="lacks part of that kind's protocol"):
        kind_of(GradientFree(eps=0.1))

    class Sightless(Square):
        kind = "score"

        def step_rule(self):
            return PGD(eps=0.1).step_rule()

    with pytest.raises(ConfigError, match="its step rule asks for gradients"):
        kind_of(Sightless(eps=0.1))

    class Unknown(PGD):
        kind = "oracle"

    with pytest.raises(ConfigError, match="declares kind='oracle'"):
        kind_of(Unknown(eps=0.1))


def test_an_ensemble_is_its_own_kind_and_holds_no_ensembles():
    inner = AutoAttack(eps=0.1, version="fast")
    assert kind_of(inner) == "ensemble" and inner.eps == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="not other ensembles"):
        AutoAttack(eps=0.1, attacks=[inner])


def test_settings_are_checked_against_the_signature():
    with pytest.raises(ConfigError, match=r"takes no setting 'stepz'; it takes eps, steps"):
        build_attack("pgd", eps=0.1, stepz=3)
    with pytest.raises(ConfigError, match=r"needs 'eps'"):
        build_attack("fgsm")

"""The keys of an attack suite file: what each means and allows, read from the attack classes.

Example:
    >>> DEFAULT_STEPS["square"], OWN_LOSS["apgd-t"], "steps" in ATTACK_KEYS
    (5000, 'dlr-targeted', True)
"""

from __future__ import annotations

from robustkit.attacks.registry import ATTACKS
from robustkit.losses import LOSSES
from robustkit.norms import NORMS

# An ensemble is written in a suite as the chain of its attacks (an [autoattack] table), so that each
# attack's work and what it broke are recorded: [[attack]] tables name single attacks.
ATTACK_TYPES = tuple(kind for kind, attack in ATTACKS.items() if attack.kind != "ensemble")
ENSEMBLE_TYPES = tuple(kind for kind, attack in ATTACKS.items() if attack.kind == "ensemble")
# What each attack type declares (robustkit.attacks: its class's signature and attributes), by type name:
DEFAULT_STEPS = {kind: attack.default_budget() for kind, attack in ATTACKS.items()}  # steps, or queries
DEFAULT_LOSS = {kind: attack.default_loss() for kind, attack in ATTACKS.items()}
RANDOM_START_ONLY = tuple(kind for kind, attack in ATTACKS.items() if attack.chooses_start)
OWN_LOSS = {kind: attack.own_loss for kind, attack in ATTACKS.items() if attack.own_loss is not None}
ATTACK_KEYS = {
    "name": "a short name shown in reports",
    "type": "one of " + ", ".join(ATTACK_TYPES),
    "steps": "integer >= 1; defaults: "
    + ", ".join(f"{k} {ATTACKS[k].default_budget()} {ATTACKS[k].budget}" for k in ATTACK_TYPES if ATTACKS[k].budget),
    "step_size": "absolute step size > 0",
    "rel_step_size": "step size as a multiple of eps, > 0",
    "random_start": "true or false (fgsm, pgd; apgd always starts at random)",
    "restarts": "integer >= 1 (pgd, apgd)",
    "loss": "one of " + ", ".join(LOSSES),
    "sparsity": "fraction of coordinates an L1 step moves, in (0, 1]",
    "n_targets": "integer >= 1: how many other classes "
    + " and ".join(k for k, a in ATTACKS.items() if a.accepts("n_targets"))
    + " steer towards (default 9)",
    "straight_through": "true: rounding and integer casts in the model get an identity gradient (BPDA)",
}
ATTACK_SUITE_KEYS = {
    "name": "the attack suite's name (reports show it)",
    "description": "free text",
    "norm": "one of " + ", ".join(NORMS),
    "eps": 'a list of numbers >= 0 (input units) or fractions of the input range like "8/255"',
    "bounds": "[lower, upper]: each a number, one value per channel, or one per feature",
    "headline_eps": "the eps the report's summary shows (one of eps; default: the middle of the grid)",
    "eps_unit": "'input' (default: eps in the inputs' units) or 'range' (every eps a fraction of the input range)",
    "chain": "true: each attack attacks only the examples every earlier one left robust (AutoAttack's order)",
    "attack": "an array of [[attack]] tables",
    "autoattack": "a table naming AutoAttack's version, whose attacks then run chained (instead of [[attack]])",
}
AUTOATTACK_KEYS = {
    "version": "'standard' (default), 'fast' or 'rand'",
    "steps": "integer >= 1: steps of each APGD and FAB run (default 100)",
    "n_targets": "integer >= 1: target classes of APGD-T and FAB-T (default 9)",
    "queries": "integer >= 1: Square's queries (default 5000)",
    "straight_through": "true: BPDA for every gradient attack",
}


MANAGED = {"eps", "norm", "bounds", "batch_size", "seed", "early_stop", "jit_compile", "targeted", "target", "queries"}


def own_settings(kind: str) -> dict[str, str]:
    """The settings only this attack type has, as suite keys: its class's signature less the shared keys."""
    parameters = ATTACKS[kind].parameters()
    return {
        name: f"{kind}'s own setting (default {parameter.default!r}{'; ' if ATTACKS[kind].allowed(name) else ''}"
        f"{ATTACKS[kind].allowed(name)})"
        for name, parameter in parameters.items()
        if name not in ATTACK_KEYS and name not in MANAGED
    }

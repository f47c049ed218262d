"""An ensemble in the manner of AutoAttack: attacks run in order, each only on the examples that
every earlier one left robust, and the result says which attack broke each example.

The versions of AutoAttack (Croce & Hein, 2020):

* ``"standard"``: APGD-CE, APGD-T (9 targets), FAB-T (9 targets), each 100 steps, then Square
  (5,000 queries). L-inf and L2 (Square has no L1 version).
* ``"fast"``: APGD-CE and APGD-T.
* ``"rand"``, for randomized models: APGD-CE and APGD-DLR, each gradient averaged over 20 passes
  (expectation over transformation).

Any list of attacks can be given instead, e.g. ``[APGD(...), APGDT(...), Square(...)]``.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(5)])
    >>> x = np.full((3, 4, 4, 1), 0.5, "float32")
    >>> ensemble = AutoAttack(eps=0.2, steps=10, queries=50, seed=0)
    >>> ensemble.names
    ['apgd-ce', 'apgd-t', 'fab-t', 'square']
    >>> result = ensemble.run(model, x, [0, 1, 2])
    >>> set(result.broken_by) <= {"", "clean", *ensemble.names}, sum(ensemble.contributions(result).values()) <= 3
    (True, True)
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks.apgd import APGD, APGDT
from robustkit.attacks.base import LoopAttack
from robustkit.attacks.declared import Declared, OneOf
from robustkit.attacks.fab import FAB
from robustkit.attacks.kinds import kind_of
from robustkit.attacks.prepare import checked_index
from robustkit.attacks.result import AttackResult
from robustkit.attacks.settings import positive_int
from robustkit.attacks.square import Square
from robustkit.constraints import Constraints
from robustkit.errors import ConfigError, InputError
from robustkit.ranges import Eps

VERSIONS = ("standard", "fast", "rand")
EOT_SAMPLES = 20  # passes per gradient in the rand version
MEMBERS: dict[str, type[LoopAttack]] = {attack.name: attack for attack in (APGD, APGDT, FAB, Square)}


def version_attacks(
    version: str,
    norm: Any = "linf",
    steps: int = 100,
    n_targets: int = 9,
    queries: int = 5000,
    straight_through: bool = False,
) -> list[tuple[str, str, dict[str, Any]]]:
    """A version's attacks in order, as ``(label, registered type, settings)``: the one list of them.

    :class:`AutoAttack` builds its attacks from it, and an attack suite that names a version
    (``[autoattack]`` in its file) runs the same list as a chained suite. The settings are the
    constructor's, beyond eps, norm, bounds, batch size and seed.

    Example:
        >>> [(label, kind) for label, kind, _ in version_attacks("standard")]
        [('apgd-ce', 'apgd'), ('apgd-t', 'apgd-t'), ('fab-t', 'fab'), ('square', 'square')]
        >>> version_attacks("rand")[1]
        ('apgd-dlr', 'apgd', {'steps': 100, 'loss': 'dlr', 'eot': 20})
    """
    if version not in VERSIONS:
        raise ConfigError(f"Unknown version {version!r}; choose one of {', '.join(VERSIONS)}, or pass attacks=.")
    steps, n_targets = positive_int("steps", steps), positive_int("n_targets", n_targets)
    gradient: dict[str, Any] = {"steps": steps, **({"straight_through": True} if straight_through else {})}
    if version == "rand":
        return [(f"apgd-{loss}", "apgd", {**gradient, "loss": loss, "eot": EOT_SAMPLES}) for loss in ("ce", "dlr")]
    listed = [
        ("apgd-ce", "apgd", {**gradient, "loss": "ce"}),
        ("apgd-t", "apgd-t", {**gradient, "n_targets": n_targets}),
    ]
    if version == "standard":
        norm_name = str(getattr(norm, "name", norm)).lower()
        if norm_name not in ("linf", "inf", "l2"):
            raise ConfigError(
                "version='standard' ends with Square, which has no L1 version; use version='fast' "
                "(APGD-CE, APGD-T) or attacks=[APGD(...), APGDT(...), FAB(...)]."
            )
        listed += [
            ("fab-t", "fab", {**gradient, "n_targets": n_targets}),
            ("square", "square", {"queries": positive_int("queries", queries)}),
        ]
    return listed


class AutoAttack(Declared):
    """Attacks in sequence, each on the survivors of the ones before (see the module docstring).

    It is a registered attack (``build_attack("autoattack", eps=..., version="fast")``): it declares
    its kind, its budget (``steps`` of each gradient attack) and its settings as every attack does.

    Args:
        eps: radius of the threat model: a number, or a fraction of the input range such as ``"8/255"``.
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        version: ``"standard"`` or ``"fast"`` (see the module docstring), unless ``attacks`` is given.
        attacks: the attacks to run, in order, instead of a version's.
        steps: steps of each APGD and FAB run (100 in AutoAttack).
        n_targets: target classes of APGD-T and FAB-T (9 in AutoAttack).
        queries: Square's queries (5,000 in AutoAttack).
        straight_through: BPDA for every gradient attack of a version (see ``GradientAttack``).
        bounds, batch_size, seed: as for every attack.
        constraints: feature constraints for every attack (:mod:`robustkit.constraints`).
    """

    name = "autoattack"
    kind = "ensemble"
    budget = "steps"
    own_loss = "each attack's own"  # CE, targeted DLR, FAB's gap and Square's margin: it takes no loss
    chooses_start = True  # each of its attacks chooses its own starting points
    parameter_constraints = {"version": OneOf(VERSIONS)}  # the shared settings' are Declared's

    def __init__(
        self,
        eps: Eps | str,
        norm: str = "linf",
        version: str = "standard",
        attacks: list[LoopAttack] | None = None,
        steps: int = 100,
        n_targets: int = 9,
        queries: int = 5000,
        straight_through: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        constraints: Constraints | None = None,
    ):
        given = attacks is not None
        if attacks is None:
            common = dict(eps=eps, norm=norm, bounds=bounds, batch_size=batch_size, seed=seed, early_stop=True)
            listed = version_attacks(version, norm, steps, n_targets, queries, straight_through)
            attacks = [MEMBERS[kind](**common, **settings) for _, kind, settings in listed]
        if not attacks:
            raise ConfigError("attacks must name at least one attack.")
        if any(kind_of(attack) == "ensemble" for attack in attacks):
            raise ConfigError("An ensemble runs attacks, not other ensembles: list their attacks instead.")
        self.attacks = [attack.with_constraints(constraints) for attack in attacks]
        self.eps = self.attacks[0].eps
        self.names = [a.label() for a in self.attacks]
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"The attacks must differ; got {self.names}.")
        self.version = "custom" if given else version
        self.seed = seed

    def run(self, model: Any, x: Any, y: Any, *, seed: int | None = None, index: Any = None) -> AttackResult:
        """Attack ``x``; ``result.broken_by`` names, per example, the attack that broke it first
        (``"clean"`` when the clean input is already misclassified, ``""`` when none did).

        ``index``: the examples' indices in the data set when ``x`` is a part of it; every attack
        keys its random draws by them, so any cut of the data gives the same result.
        """
        x, y = np.asarray(x), np.asarray(y)
        if len(x) == 0:
            raise InputError("x is empty: there is nothing to attack.")
        index = np.arange(len(x)) if index is None else checked_index(index, x)
        merged: AttackResult | None = None
        broken_by = np.full(len(x), "", dtype=object)
        for name, attack in zip(self.names, self.attacks):
            rows = np.arange(len(x)) if merged is None else np.flatnonzero(~merged.success)
            if not len(rows):
                break
            part = attack.run(model, x[rows], y[rows], seed=seed, index=index[rows])
            if merged is None:
                merged = part
                for field in ("success", "adv_pred", "loss", "norms", "grad_evals"):
                    setattr(merged, field, np.array(getattr(merged, field)))  # writable copies
                broken_by[part.success & ~part.clean_correct] = "clean"
                broken_by[part.success & part.clean_correct] = name
                continue
            _merge_into(merged, part, rows)
            broken_by[rows[part.success]] = name
        assert merged is not None  # the first attack always runs
        merged.broken_by = broken_by
        merged.attack = self.name
        return merged

    def __repr__(self) -> str:
        return f"AutoAttack({', '.join(self.names)})"

    def label(self) -> str:
        """The ensemble's name in tables: its version's, or ``autoattack`` for a custom list."""
        return self.name if self.version in ("standard", "custom") else f"{self.name}-{self.version}"

    @property
    def norm(self) -> Any:
        return self.attacks[0].norm

    def with_constraints(self, constraints: Constraints | None) -> AutoAttack:
        """This ensemble with every attack under feature constraints (:mod:`robustkit.constraints`)."""
        if constraints is None:
            return self
        changed = copy.copy(self)
        changed.attacks = [attack.with_constraints(constraints) for attack in self.attacks]
        return changed

    def __call__(self, model: Any, x: Any, y: Any, *, seed: int | None = None, index: Any = None) -> tf.Tensor:
        return self.run(model, x, y, seed=seed, index=index).x_adv

    def contributions(self, result: AttackResult) -> dict[str, int]:
        """How many examples each attack broke that the ones before it had missed."""
        return {name: int(np.sum(result.broken_by == name)) for name in self.names}


def _merge_into(merged: AttackResult, part: AttackResult, rows: np.ndarray) -> None:
    """Fold a later attack's result on ``rows`` into ``merged``: its successes win, its work adds up."""
    won = rows[part.success]
    x_adv = merged.x_adv.numpy()
    x_adv[won] = part.x_adv.numpy()[part.success]
    merged.x_adv = tf.constant(x_adv)
    for field in ("success", "adv_pred", "loss", "norms"):
        getattr(merged, field)[won] = getattr(part, field)[part.success]
    merged.grad_evals[rows] += part.grad_evals
    if part.queries is not None:
        if merged.queries is None:
            merged.queries = np.zeros_like(merged.grad_evals)
        merged.queries[rows] += part.queries
    if part.radius is not None:  # a minimum-norm attack: the closest adversarial point found by any
        if merged.radius is None:
            merged.radius = np.full(len(merged), np.inf)
            merged.radius[merged.success] = merged.norms[merged.success]
        merged.radius[rows] = np.minimum(merged.radius[rows], part.radius)

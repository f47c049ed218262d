"""An ensemble in the manner of AutoAttack: attacks run in order, each only on the examples that
every earlier one left robust, and the result says which attack broke each example.

``version="fast"`` runs APGD-CE and APGD-T (Croce & Hein, 2020). Any list of attacks can be
given instead, e.g. ``[APGD(...), APGDT(...), Square(...)]``. AutoAttack's ``"standard"``
version adds FAB-T, which robustkit does not have yet: asking for it says so.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(5)])
    >>> x = np.full((3, 4, 4, 1), 0.5, "float32")
    >>> ensemble = AutoAttack(eps=0.2, steps=10, seed=0)
    >>> ensemble.names
    ['apgd-ce', 'apgd-t']
    >>> result = ensemble.run(model, x, [0, 1, 2])
    >>> set(result.broken_by) <= {"", "clean", "apgd-ce", "apgd-t"}, sum(ensemble.contributions(result).values()) <= 3
    (True, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks.apgd import APGD, APGDT
from robustkit.attacks.base import GradientAttack
from robustkit.attacks.result import AttackResult
from robustkit.attacks.settings import positive_int
from robustkit.errors import ConfigError, InputError

VERSIONS = ("fast",)


class AutoAttack:
    """Attacks in sequence, each on the survivors of the ones before (see the module docstring).

    Args:
        eps: radius of the threat model.
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        version: ``"fast"`` (APGD-CE, then APGD-T), unless ``attacks`` is given.
        attacks: the attacks to run, in order, instead of a version's.
        steps: steps of each APGD run (100 in AutoAttack).
        n_targets: target classes of APGD-T (9 in AutoAttack).
        bounds, batch_size, seed: as for every attack.
    """

    name = "autoattack"

    def __init__(
        self,
        eps: float,
        norm: str = "linf",
        version: str = "fast",
        attacks: list[GradientAttack] | None = None,
        steps: int = 100,
        n_targets: int = 9,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
    ):
        if attacks is None:
            if version == "standard":
                raise ConfigError(
                    "version='standard' runs FAB-T, which robustkit does not have yet; use version='fast' "
                    "(APGD-CE, APGD-T) or pass attacks=[APGD(...), APGDT(...), Square(...)]."
                )
            if version not in VERSIONS:
                raise ConfigError(
                    f"Unknown version {version!r}; choose one of {', '.join(VERSIONS)}, or pass attacks=."
                )
            common = dict(
                eps=eps,
                norm=norm,
                steps=positive_int("steps", steps),
                bounds=bounds,
                batch_size=batch_size,
                seed=seed,
                early_stop=True,
            )
            attacks = [APGD(loss="ce", **common), APGDT(n_targets=n_targets, **common)]
        if not attacks:
            raise ConfigError("attacks must name at least one attack.")
        self.attacks = list(attacks)
        self.names = [_label(a) for a in self.attacks]
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"The attacks must differ; got {self.names}.")
        self.version = version if attacks is None else "custom"
        self.seed = seed

    def run(self, model: Any, x: Any, y: Any, *, seed: int | None = None) -> AttackResult:
        """Attack ``x``; ``result.broken_by`` names, per example, the attack that broke it first
        (``"clean"`` when the clean input is already misclassified, ``""`` when none did)."""
        x, y = np.asarray(x), np.asarray(y)
        if len(x) == 0:
            raise InputError("x is empty: there is nothing to attack.")
        merged: AttackResult | None = None
        broken_by = np.full(len(x), "", dtype=object)
        for name, attack in zip(self.names, self.attacks):
            rows = np.arange(len(x)) if merged is None else np.flatnonzero(~merged.success)
            if not len(rows):
                break
            part = attack.run(model, x[rows], y[rows], seed=seed)
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

    def __call__(self, model: Any, x: Any, y: Any, *, seed: int | None = None) -> tf.Tensor:
        return self.run(model, x, y, seed=seed).x_adv

    def contributions(self, result: AttackResult) -> dict[str, int]:
        """How many examples each attack broke that the ones before it had missed."""
        return {name: int(np.sum(result.broken_by == name)) for name in self.names}


def _label(attack: GradientAttack) -> str:
    if attack.name == "apgd":
        return f"apgd-{attack.loss}"
    return attack.name


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

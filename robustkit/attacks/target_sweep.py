"""The target sweep of APGD-T and FAB-T: one run towards each of the most likely other classes.

Each run steers the attack's loss towards one guide class (the 2nd most likely at x, then the
3rd, ...), and only on the examples that no earlier run broke. An example keeps the point of the
first run that breaks it; one that no run breaks keeps the first run's point. A minimum-norm
attack reports the closest point over every target; given no eps, it runs every target on every
example and keeps each one's closest point, so that its radius answers every eps. Every run draws
its own random starts (the run's number is folded into the examples' keys).

The attacks that sweep targets take :class:`TargetSweep` as their first base class: it replaces
the one compiled run of :meth:`LoopAttack.execute <robustkit.attacks.base.LoopAttack.execute>`
with a run per target.

Example:
    >>> from robustkit.attacks import APGDT
    >>> isinstance(APGDT(eps=0.1), TargetSweep), APGDT(eps=0.1, n_targets=3).guide_ranks(10)
    (True, [2, 3, 4])
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from robustkit.attacks.compiled import OUTPUTS, AtX, compiled_run
from robustkit.errors import ConfigError
from robustkit.logits import LogitsView
from robustkit.row_random import mix_keys

GUIDED_RUN_STREAM = 1 << 20  # apart from the restarts' numbers


class TargetSweep:
    """A run per guide class, each on the survivors of the runs before (see the module docstring)."""

    n_targets: int
    kind: ClassVar[str]

    def guide_ranks(self, classes: int) -> list[int]:
        """Which classes to steer towards, by rank at x (2 = second most likely), at most ``n_targets``."""
        return list(range(2, min(self.n_targets, classes - 1) + 2))

    def execute(
        self, view: LogitsView, x: tf.Tensor, goal: tf.Tensor, keys: tf.Tensor, first: AtX | None = None
    ) -> dict[str, Any]:
        """The runs of every target on one validated batch, merged (see the module docstring)."""
        if first is not None:
            raise ConfigError("An attack that sweeps targets starts where it chooses: it takes no first=.")
        order = tf.argsort(view(x), axis=-1, direction="DESCENDING", stable=True).numpy()
        closest = self.kind == "minimum-norm"
        # With no eps (a minimum-norm attack's radius answering every eps), every target runs on every example
        # and each keeps its closest point: a point found counts, but a closer one may still be found.
        everyone = closest and not np.isfinite(getattr(self, "eps", 0.0))
        out: dict[str, Any] = {}
        for number, rank in enumerate(self.guide_ranks(order.shape[-1])):
            rows = np.arange(len(order)) if not out or everyone else np.flatnonzero(~out["success"])
            if not len(rows):
                break
            run_keys = mix_keys(tf.gather(keys, rows), GUIDED_RUN_STREAM + number)
            guide = tf.constant(order[rows, rank - 1].astype(np.int32))
            run = compiled_run(self, view, tf.gather(x, rows), tf.gather(goal, rows), run_keys, guide=guide)
            if not out:
                out = dict(run, x_adv=run["x_adv"].numpy())
                continue
            out["grad_evals"][rows] += run["grad_evals"]
            taken = run["loss"] > out["loss"][rows] if everyone else run["success"]
            if closest:  # the objective is minus the smallest adversarial norm found
                out["loss"][rows] = np.maximum(out["loss"][rows], run["loss"])
            broke = rows[taken]
            for name in OUTPUTS[:-1]:
                value = run[name].numpy() if name == "x_adv" else run[name]
                out[name][broke] = value[taken]
        out["x_adv"] = tf.constant(out["x_adv"])
        return out

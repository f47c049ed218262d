"""Robustness assertions for test suites.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, kernel_initializer="identity")])
    >>> x, y = np.array([[0.8, 0.1], [0.1, 0.8]], "float32"), [0, 1]
    >>> assert_robust(model, x, y, eps=0.1, min_accuracy=1.0).robust_accuracy
    1.0
    >>> assert_robust(model, x, y, eps=0.5, min_accuracy=1.0)
    Traceback (most recent call last):
    ...
    robustkit.outputs.testing.RobustnessError: robust accuracy 0.00% is below the required 100.00%
    ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robustkit.attacks import ATTACKS, AttackResult, build_attack
from robustkit.errors import ConfigError
from robustkit.stats import wilson_interval

MIN_STEPS = 20  # the fewest steps assert_robust gives an attack whose default is fewer (PGD's 10)


class RobustnessError(AssertionError):
    """A model was less robust than a test required; the message is the evidence."""


def _table(result: AttackResult, attack: str, norm: str, eps: float, min_accuracy: float) -> str:
    n = len(result)
    robust = int(result.robust.sum())
    low, high = wilson_interval(robust, n)
    broken = np.flatnonzero(result.clean_correct & ~result.robust)
    rows = [
        ("attack", f"{attack} ({norm}, eps={eps:g})"),
        ("examples", str(n)),
        ("clean accuracy", f"{result.clean_accuracy:.2%}"),
        ("robust accuracy", f"{result.robust_accuracy:.2%}  (95% interval {low:.2%} - {high:.2%})"),
        ("required", f">= {min_accuracy:.2%}"),
        ("attack success rate", f"{result.success_rate:.2%}"),
        ("broken examples", ", ".join(map(str, broken[:10])) + (" ..." if len(broken) > 10 else "")),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)} | {v}" for k, v in rows)


def assert_robust(
    model: Any,
    x: Any,
    y: Any,
    eps: float,
    min_accuracy: float,
    attack: str = "pgd",
    norm: str = "linf",
    steps: int | None = None,
    restarts: int = 1,
    loss: str | None = None,
    bounds: Any = (0.0, 1.0),
    seed: int = 0,
    **settings: Any,
) -> AttackResult:
    """Fail (``AssertionError``) unless robust accuracy under the attack is at least ``min_accuracy``.

    The failure message is a small table: clean and robust accuracy with its 95% interval, the
    requirement, and which examples broke. Returns the :class:`AttackResult` on success.

    Args:
        model, x, y: the Keras model and the examples it must classify robustly.
        eps: the radius, in input units.
        min_accuracy: the robust accuracy required, in [0, 1].
        attack: any registered attack (``robustkit.attacks.ATTACKS``), ``"autoattack"`` included.
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        steps: the attack's budget (steps, or queries of a score-based attack); None: its own default,
            but never fewer than 20 (a robustness claim needs a converged attack).
        restarts, loss: for the attacks that take them (loss None: the attack's default).
        bounds, seed: as for every attack.
        **settings: any other setting of the attack's class, e.g. ``version="fast"`` for autoattack.
    """
    if not 0 <= min_accuracy <= 1:
        raise ConfigError(f"min_accuracy is a fraction in [0, 1], got {min_accuracy!r}.")
    kind = attack.lower()
    if kind not in ATTACKS:
        raise ConfigError(f"attack must be one of {', '.join(ATTACKS)}, got {attack!r}.")
    declared = ATTACKS[kind]
    chosen: dict[str, Any] = dict(eps=eps, norm=norm, bounds=bounds, seed=seed, **settings)
    if declared.budget is not None:
        chosen[declared.budget] = steps if steps is not None else max(MIN_STEPS, declared.default_budget())
    optional = {"restarts": restarts, "loss": loss, "early_stop": True}
    chosen.update({k: v for k, v in optional.items() if v is not None and declared.accepts(k) and k not in chosen})
    runner = build_attack(kind, **chosen)
    result = runner.run(model, x, y)
    if result.robust_accuracy < min_accuracy:
        raise RobustnessError(
            f"robust accuracy {result.robust_accuracy:.2%} is below the required {min_accuracy:.2%}\n"
            + _table(result, kind, norm, eps, min_accuracy)
        )
    return result

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

from robustkit.attacks import AttackResult, build_attack
from robustkit.errors import ConfigError
from robustkit.stats import wilson_interval


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
    steps: int = 20,
    restarts: int = 1,
    loss: str = "ce",
    bounds: Any = (0.0, 1.0),
    seed: int = 0,
) -> AttackResult:
    """Fail (``AssertionError``) unless robust accuracy under the attack is at least ``min_accuracy``.

    The failure message is a small table: clean and robust accuracy with its 95% interval, the
    requirement, and which examples broke. Returns the :class:`AttackResult` on success.
    """
    if not 0 <= min_accuracy <= 1:
        raise ConfigError(f"min_accuracy is a fraction in [0, 1], got {min_accuracy!r}.")
    kind = attack.lower()
    settings: dict = dict(eps=eps, norm=norm, loss=loss, bounds=bounds, seed=seed)
    if kind == "pgd":
        settings.update(steps=steps, restarts=restarts, early_stop=True)
    elif kind != "fgsm":
        raise ConfigError(f"attack must be 'pgd' or 'fgsm', got {attack!r}.")
    runner = build_attack(kind, **settings)
    result = runner.run(model, x, y)
    if result.robust_accuracy < min_accuracy:
        raise RobustnessError(
            f"robust accuracy {result.robust_accuracy:.2%} is below the required {min_accuracy:.2%}\n"
            + _table(result, kind, runner.norm.name, eps, min_accuracy)
        )
    return result

"""One thing the gate checked, as every output of the gate (terminal, JUnit, Markdown) shows it.

Example:
    >>> Condition("threshold", "m linf eps=0.1", True, "robust accuracy 80.00% >= 75.00%").passed
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Condition:
    """One thing the gate checked: a threshold, a baseline comparison or a sanity check."""

    kind: str  # "threshold", "baseline", "check"
    name: str
    passed: bool
    message: str
    details: list[str] = field(default_factory=list)
    skipped: bool = False  # nothing to check (a trust check that did not apply): neither passed nor failed

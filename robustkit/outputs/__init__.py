"""Outputs: reports (Markdown, CSV, JSON, HTML, PNG), the robustness gate and the pytest plugin.

Example:
    >>> from robustkit.outputs import assert_robust, evaluate_gate, write_report
    >>> assert_robust.__name__
    'assert_robust'
"""

from typing import TYPE_CHECKING

from robustkit._facade import lazy_exports

_EXPORTS = {
    "Condition": "robustkit.outputs.gate",
    "RobustnessError": "robustkit.outputs.testing",
    "Threshold": "robustkit.outputs.gate",
    "assert_robust": "robustkit.outputs.testing",
    "evaluate_gate": "robustkit.outputs.gate",
    "parse_threshold": "robustkit.outputs.gate",
    "write_report": "robustkit.outputs.report",
}
__all__ = [
    "Condition",
    "RobustnessError",
    "Threshold",
    "assert_robust",
    "evaluate_gate",
    "parse_threshold",
    "write_report",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from robustkit.outputs.gate import Condition, Threshold, evaluate_gate, parse_threshold
    from robustkit.outputs.report import write_report
    from robustkit.outputs.testing import RobustnessError, assert_robust

"""Evaluation: suites as data, the eps sweep, the cell store, the results schema and trust checks.

Example:
    >>> from robustkit.evaluation import load_benchmark_suite, run_benchmark
    >>> load_benchmark_suite("default").models
    ['digits-mlp', 'digits-cnn', 'digits-cnn-pgd']
"""

from typing import TYPE_CHECKING

from robustkit._facade import lazy_exports

_EXPORTS = {
    "CHECKS": "robustkit.evaluation.checks",
    "AttackSpec": "robustkit.evaluation.suites",
    "AttackSuite": "robustkit.evaluation.suites",
    "BenchmarkRun": "robustkit.evaluation.runner",
    "BenchmarkSuite": "robustkit.evaluation.suites",
    "Results": "robustkit.evaluation.results",
    "load_attack_suite": "robustkit.evaluation.suites",
    "load_benchmark_suite": "robustkit.evaluation.suites",
    "read_results": "robustkit.evaluation.results",
    "run_benchmark": "robustkit.evaluation.runner",
    "run_checks": "robustkit.evaluation.checks",
}
__all__ = [
    "AttackSpec",
    "AttackSuite",
    "BenchmarkRun",
    "BenchmarkSuite",
    "CHECKS",
    "Results",
    "load_attack_suite",
    "load_benchmark_suite",
    "read_results",
    "run_benchmark",
    "run_checks",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from robustkit.evaluation.checks import CHECKS, run_checks
    from robustkit.evaluation.results import Results, read_results
    from robustkit.evaluation.runner import BenchmarkRun, run_benchmark
    from robustkit.evaluation.suites import (
        AttackSpec,
        AttackSuite,
        BenchmarkSuite,
        load_attack_suite,
        load_benchmark_suite,
    )

"""The kinds of evaluation a benchmark run holds, each declared once (:class:`EvaluationKind`).

A kind reads its own suites of a benchmark suite, names its units of work (one
:class:`~robustkit.evaluation.shards.ShardTask` per method, model and shard, for any executor),
computes one into the cell store, and evaluates a whole model into the results. The runner, the
executors and the progress count only ask the kinds in :data:`EVALUATION_KINDS`: attacks
(:mod:`robustkit.evaluation.attack_evaluation`), certificates
(:mod:`robustkit.evaluation.certification`) and proofs (:mod:`robustkit.evaluation.verification`;
it runs after the attacks, whose answers its trust check reads) and corruptions
(:mod:`robustkit.evaluation.corruption`). A new kind is one more entry.

Example:
    >>> [kind.name for kind in EVALUATION_KINDS]
    ['attack suites', 'certification suites', 'verification suites', 'corruption suites']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from robustkit.evaluation.attack_evaluation import AttackEvaluation
from robustkit.evaluation.certification import CertificationEvaluation
from robustkit.evaluation.context import RunContext
from robustkit.evaluation.corruption import CorruptionEvaluation
from robustkit.evaluation.progress import RunProgress
from robustkit.evaluation.results import Results
from robustkit.evaluation.shards import EvaluatedModel, ModelUnderTest, ShardTask
from robustkit.evaluation.suites import BenchmarkSuite
from robustkit.evaluation.verification import VerificationEvaluation


class EvaluationKind(Protocol):
    """One kind of evaluation: its suites, its units of work, and how it evaluates a model."""

    name: str  # what its suites are called, e.g. "attack suites"

    def suites(self, suite: BenchmarkSuite) -> list[Any]: ...

    def cells_per_shard(self, suite: BenchmarkSuite) -> int: ...  # per model, for the progress count

    # Before any work on a model: can this kind handle it and the data? An error, or a note and a fallback.
    def prepare(self, run: RunContext, tested: ModelUnderTest) -> None: ...

    def tasks(self, suite: BenchmarkSuite, shards: int) -> list[ShardTask]: ...

    def compute(self, run: RunContext, tested: ModelUnderTest, task: ShardTask) -> int: ...

    def evaluate(self, run: RunContext, model: EvaluatedModel, results: Results, progress: RunProgress) -> None: ...


EVALUATION_KINDS: tuple[EvaluationKind, ...] = (
    AttackEvaluation(),
    CertificationEvaluation(),
    VerificationEvaluation(),
    CorruptionEvaluation(),
)


def kind_of_suite(suite: BenchmarkSuite, name: str) -> EvaluationKind:
    """The kind whose suites hold one named ``name``."""
    for kind in EVALUATION_KINDS:
        if any(s.name == name for s in kind.suites(suite)):
            return kind
    raise KeyError(name)


def total_cells(run: RunContext) -> int:
    """How many cells a run holds, every kind together."""
    per_shard = sum(kind.cells_per_shard(run.suite) for kind in EVALUATION_KINDS)
    return len(run.suite.models) * per_shard * len(run.shards)


def shard_tasks(suite: BenchmarkSuite, n_examples: int) -> list[ShardTask]:
    """Every unit of work of a suite, for data of ``n_examples``, every kind together."""
    shards = max(1, -(-n_examples // suite.shard_size))
    return [task for kind in EVALUATION_KINDS for task in kind.tasks(suite, shards)]


def compute_shard(suite: BenchmarkSuite, out_dir: str | Path, task: ShardTask) -> int:
    """Compute and save the cells of one task (skipping those already saved); returns how many were computed."""
    run = RunContext.open(suite, out_dir)
    tested = ModelUnderTest.load(task.model, run.suite.seed)
    return kind_of_suite(run.suite, task.suite).compute(run, tested, task)

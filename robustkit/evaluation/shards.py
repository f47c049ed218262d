"""Shards: the units of work an executor hands out, and computing one into the cell store.

A task is one attack of one attack suite, on one model and one shard of the data (a chained
suite's attacks depend on the ones before: one task runs the whole chain on its shard). Any
process that sees the report folder can compute a task (:func:`compute_shard`); a later
:func:`~robustkit.evaluation.runner.run_benchmark` on the same folder finds the cells and
assembles the same results as if it had computed them itself.

Example:
    >>> from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
    >>> linf = AttackSuite("linf", "linf", (0.1,), (AttackSpec("fgsm", "fgsm", "linf"),))
    >>> len(shard_tasks(BenchmarkSuite("s", "digits", ["digits-mlp"], [linf], shard_size=100), 360))
    4
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustkit.evaluation.cells import Cell
from robustkit.evaluation.context import RunContext
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from robustkit.evaluation.sweep import SweepJob, attack_record, chained_record, sweep
from robustkit.sources.models import fingerprint, load_model, model_label


@dataclass(frozen=True)
class ShardTask:
    """One unit of work an executor can hand out: one attack of one attack suite, on one model and one shard."""

    model: str  # a model spec of the suite
    attack_suite: str
    attack: str
    shard: int


def shard_tasks(suite: BenchmarkSuite, n_examples: int) -> list[ShardTask]:
    """Every task of a suite, for data of ``n_examples`` (the largest shards' work is not known in advance)."""
    shards = range(max(1, -(-n_examples // suite.shard_size)))
    return [
        ShardTask(model, attack_suite.name, spec.name, shard)
        for model in suite.models
        for attack_suite in suite.attack_suites
        # A chained suite's attacks depend on the ones before: one task runs the whole chain on its shard.
        for spec in (attack_suite.attacks[-1:] if attack_suite.chain else attack_suite.attacks)
        for shard in shards
    ]


@dataclass(frozen=True)
class ModelUnderTest:
    """A loaded model, its name in the results and its fingerprint (part of every cell's key)."""

    model: Any
    label: str
    fingerprint: str

    @staticmethod
    def load(spec_string: str, seed: int) -> ModelUnderTest:
        model = load_model(spec_string, seed=seed)
        return ModelUnderTest(model, model_label(spec_string), fingerprint(model))


def sweep_shard(
    run: RunContext,
    tested: ModelUnderTest,
    attack_suite: AttackSuite,
    spec: AttackSpec,
    number: int,
    correct: np.ndarray,
    skip: np.ndarray | None = None,
    tick: Callable[[bool], None] | None = None,
) -> tuple[dict[float, Cell], int, int]:
    """The sweep of one attack over one shard: its cells by eps, and how many were computed and reused.

    ``correct``: the shard's clean correctness; ``skip``: in a chained suite, the eps at which an
    earlier attack broke each example of the shard.
    """
    start, stop = run.shards[number]
    job = SweepJob(
        tested.model,
        tested.label,
        attack_suite,
        spec,
        run.bounds(attack_suite),
        run.suite.seed,
        run.suite.batch_size,
        run.shard_dir(run.cell_dir(tested.label, tested.fingerprint, attack_suite, spec), number),
        run.strategy,
        offset=start,
    )
    return sweep(job, run.shard_x(number), run.y[start:stop], correct, skip, tick)


def compute_shard(suite: BenchmarkSuite, out_dir: str | Path, task: ShardTask) -> int:
    """Compute and save the cells of one task (skipping those already saved); returns how many were computed."""
    run = RunContext.open(suite, out_dir)
    tested = ModelUnderTest.load(task.model, run.suite.seed)
    attack_suite = run.attack_suite(task.attack_suite)
    spec = next(a for a in attack_suite.attacks if a.name == task.attack)
    run.validate_data(attack_suite)
    clean_pred = run.shard_predictions(tested.model, task.shard)
    correct = clean_pred == run.y[slice(*run.shards[task.shard])]
    chain = attack_suite.attacks[: attack_suite.attacks.index(spec) + 1] if attack_suite.chain else (spec,)
    total, before = 0, None
    for link in chain:  # in a chained suite, the attacks up to this one, in order, on this shard
        skip = None if before is None else before["broken_eps"]
        cells, computed, _ = sweep_shard(run, tested, attack_suite, link, task.shard, correct, skip)
        before = chained_record(attack_record(cells, attack_suite.input_eps, clean_pred), before)
        total += computed
    return total

"""Attack suites as a kind of evaluation: every attack swept over its eps grid, shard by shard, then the trust checks.

For each model and attack the eps grid is swept from small to large on the survivors only (see
:mod:`robustkit.evaluation.sweep`), shard by shard of the data; in a chained suite each attack
skips what the attacks before it broke. Each (model, attack, eps, shard) cell is saved when it
completes, so an interrupted run resumes where it stopped.

Example:
    >>> from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
    >>> linf = AttackSuite("linf", "linf", (0.1, 0.2), (AttackSpec("fgsm", "fgsm", "linf"),))
    >>> AttackEvaluation().cells_per_shard(BenchmarkSuite("s", "digits", ["digits-mlp"], [linf]))
    2
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from robustkit.attacks.few_classes import substitution_note
from robustkit.evaluation.cells import Cell
from robustkit.evaluation.checks import run_checks
from robustkit.evaluation.context import RunContext
from robustkit.evaluation.progress import RunProgress
from robustkit.evaluation.results import AttackRecord, Results, Sample
from robustkit.evaluation.shards import EvaluatedModel, ModelUnderTest, ShardTask
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from robustkit.evaluation.sweep import SweepJob, attack_record, chained_record, merge_records, sweep


class AttackEvaluation:
    """The attack suites of a run (see the module docstring)."""

    name = "attack suites"

    def suites(self, suite: BenchmarkSuite) -> list[AttackSuite]:
        return list(suite.attack_suites)

    def cells_per_shard(self, suite: BenchmarkSuite) -> int:
        return sum(len(s.attacks) * len(s.eps) for s in suite.attack_suites)

    def tasks(self, suite: BenchmarkSuite, shards: int) -> list[ShardTask]:
        return [
            ShardTask(model, attack_suite.name, spec.name, shard)
            for model in suite.models
            for attack_suite in suite.attack_suites
            # A chained suite's attacks depend on the ones before: one task runs the whole chain on its shard.
            for spec in (attack_suite.attacks[-1:] if attack_suite.chain else attack_suite.attacks)
            for shard in range(shards)
        ]

    def prepare(self, run: RunContext, tested: ModelUnderTest) -> None:
        """Nothing to check before any work: every model and data the run accepted can be evaluated."""

    def compute(self, run: RunContext, tested: ModelUnderTest, task: ShardTask) -> int:
        attack_suite = run.attack_suite(task.suite)
        spec = next(a for a in attack_suite.attacks if a.name == task.method)
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

    def evaluate(self, run: RunContext, model: EvaluatedModel, results: Results, progress: RunProgress) -> None:
        """Every attack suite and attack on one model, then its trust checks, into ``results``."""
        suite, tested = run.suite, model.tested
        notes = [
            note
            for attack_suite in suite.attack_suites
            for spec in attack_suite.attacks
            if (note := substitution_note(f"{attack_suite.name}/{spec.name}", spec.loss_used, model.classes))
        ]
        if notes:
            results["models"][tested.label]["substitutions"] = notes
        for attack_suite in suite.attack_suites:
            run.validate_data(attack_suite)
            records: dict[str, AttackRecord] = {}
            before: AttackRecord | None = None
            for spec in attack_suite.attacks:
                skip = before["broken_eps"] if before is not None else None
                record = _attack(run, model, attack_suite, spec, skip, results, progress)
                if attack_suite.chain:
                    record = before = chained_record(record, before)
                records[spec.name] = record
            model.examples["attack_suites"][attack_suite.name] = records
        if suite.checks and suite.attack_suites:
            first = suite.attack_suites[0]
            found = model.examples["attack_suites"][first.name]
            checks = run_checks(
                tested.model, run.x, run.y, model.correct, first, found, run.bounds(first),
                int(run.data.num_classes), suite.seed, tested.label,
            )  # fmt: skip
            results["checks"].extend(c.to_dict() for c in checks)


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


def _attack(
    run: RunContext,
    model: EvaluatedModel,
    attack_suite: AttackSuite,
    spec: AttackSpec,
    skip: np.ndarray | None,
    results: Results,
    progress: RunProgress,
) -> AttackRecord:
    """One attack swept over the eps grid on every shard; the report's sample images come from the first shard."""
    label = model.tested.label
    tick = progress.ticker(f"{label} {attack_suite.name} {spec.name}")
    records = []
    for number, (start, stop) in enumerate(run.shards):
        shard_skip = None if skip is None else skip[start:stop]
        cells, computed, reused = sweep_shard(
            run, model.tested, attack_suite, spec, number, model.correct[start:stop], shard_skip, tick
        )
        progress.counted(computed, reused)
        if number == 0:
            for eps, cell in cells.items():
                for index, x_adv in zip(cell.sample_indices, cell.sample_x_adv):
                    adv_pred = int(cell.adv_pred[np.flatnonzero(cell.indices == index)[0]])
                    results["samples"].append(
                        _sample(run, label, attack_suite.name, spec.name, eps, index, adv_pred, x_adv)
                    )
        records.append(attack_record(cells, attack_suite.input_eps, model.clean_pred[start:stop]))
    return merge_records(records)


def _sample(run: RunContext, label, suite_name, attack, eps, index, adv_pred: int, x_adv) -> Sample:
    return {
        "model": label,
        "attack_suite": suite_name,
        "attack": attack,
        "eps": eps,
        "index": int(index),
        "label": int(run.y[index]),
        "adv_pred": adv_pred,
        "x": np.round(run.x[index], 5).tolist(),
        "x_adv": np.round(x_adv, 5).tolist(),
    }

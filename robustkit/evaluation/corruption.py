"""Corruption suites in a run: the model's predictions on corrupted test data, in resumable cells.

Each (model, corruption suite, corruption, severity, shard) is one cell: the shard's images are
corrupted (:func:`robustkit.corruptions.corrupt`, keyed by the run's seed and each example's index
in the data set, so any sharding gives the same images) and the model's predicted classes are
saved atomically. An interrupted run resumes; a re-run reuses the cells. A task is one
corruption on one shard, every severity of it.

Example:
    >>> from robustkit.evaluation.suites import load_benchmark_suite
    >>> kind = CorruptionEvaluation()
    >>> kind.cells_per_shard(load_benchmark_suite("corruptions"))
    90
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robustkit.corruptions import corrupt
from robustkit.errors import ConfigError, InputError
from robustkit.evaluation.cell_store import StoredCell, load_or_compute
from robustkit.evaluation.context import RunContext, predict_labels
from robustkit.evaluation.corruption_suites import CorruptionSuite
from robustkit.evaluation.progress import RunProgress
from robustkit.evaluation.results import CorruptionRecord, Results
from robustkit.evaluation.shards import EvaluatedModel, ModelUnderTest, ShardTask
from robustkit.evaluation.suites import BenchmarkSuite


class CorruptionEvaluation:
    """The corruption suites of a run (see the module docstring): one task per model, corruption and shard."""

    name = "corruption suites"

    def suites(self, suite: BenchmarkSuite) -> list[CorruptionSuite]:
        return list(suite.corruption_suites)

    def cells_per_shard(self, suite: BenchmarkSuite) -> int:
        return sum(len(s.corruptions) * len(s.severities) for s in suite.corruption_suites)

    def tasks(self, suite: BenchmarkSuite, shards: int) -> list[ShardTask]:
        return [
            ShardTask(model, corruption_suite.name, corruption, shard)
            for model in suite.models
            for corruption_suite in suite.corruption_suites
            for corruption in corruption_suite.corruptions
            for shard in range(shards)
        ]

    def prepare(self, run: RunContext, tested: ModelUnderTest) -> None:
        """Before any work: the data are images, (N, H, W) with 1 or 3 channels; a table is named as one."""
        shape = tuple(run.x.shape[1:])
        if run.suite.corruption_suites and (len(shape) != 3 or shape[-1] not in (1, 3)):
            names = ", ".join(s.name for s in run.suite.corruption_suites)
            raise InputError(
                f"The common corruptions ({names}) corrupt images shaped (height, width, 1 or 3 channels); the data "
                f"{run.data.name!r} has examples of shape {shape}"
                + (" (a table's rows)" if len(shape) == 1 else "")
                + ". Leave the corruption suites out of this run."
            )

    def compute(self, run: RunContext, tested: ModelUnderTest, task: ShardTask) -> int:
        suite = next(s for s in run.suite.corruption_suites if s.name == task.suite)
        run.validate_data(suite)
        return sum(
            predict_shard(run, tested, suite, task.method, severity, task.shard)[1] for severity in suite.severities
        )

    def evaluate(self, run: RunContext, model: EvaluatedModel, results: Results, progress: RunProgress) -> None:
        """Every corruption suite on one model."""
        tested = model.tested
        for suite in run.suite.corruption_suites:
            run.validate_data(suite)
            records, computed, reused = corrupt_model(
                run, tested, suite, progress.ticker(f"{tested.label} {suite.name}")
            )
            progress.counted(computed, reused)
            model.examples.setdefault("corruption_suites", {})[suite.name] = records
            if "corruption_sample" not in results:
                low, high = scalar_bounds(run, suite)
                image = np.asarray(run.x[0], np.float64).tolist()
                results["corruption_sample"] = {"index": 0, "x": image, "bounds": [low, high], "seed": run.suite.seed}


def scalar_bounds(run: RunContext, suite: CorruptionSuite) -> tuple[float, float]:
    """The one range every pixel lies in (corruptions need a single range, not one per feature)."""
    lower, upper = run.bounds(suite)
    if np.ndim(lower) or np.ndim(upper):
        raise ConfigError(
            f"Corruption suite {suite.name!r} needs one range for every pixel; the bounds in force are per "
            "feature. Set bounds = [low, high] in the corruption suite."
        )
    return float(lower), float(upper)


@dataclass
class PredictionCell(StoredCell):
    """The model's classes on one shard under one corruption and severity."""

    prediction: np.ndarray
    seconds: float


def corrupted_predictions(
    model: object, x: np.ndarray, start: int, suite: CorruptionSuite, corruption: str, severity: int,
    seed: int, bounds: tuple[float, float], batch_size: int,
) -> np.ndarray:  # fmt: skip
    """The model's classes on ``x`` (examples ``start ..`` of the data set) under one corruption and severity."""
    indices = range(start, start + len(x))
    images = corrupt(x, corruption, severity, seed=seed, indices=indices, bounds=bounds,
                     constants=suite.constants, batch_size=suite.batch_size)  # fmt: skip
    return predict_labels(model, images, batch_size).astype(np.int64)


def predict_shard(
    run: RunContext, tested: ModelUnderTest, suite: CorruptionSuite, corruption: str, severity: int, number: int
) -> tuple[tuple[np.ndarray, float], bool]:
    """One shard's predictions under one corruption and severity (and their seconds), and whether they
    were computed (else resumed)."""
    start, stop = run.shards[number]
    folder = run.shard_dir(run.corruption_dir(tested.label, tested.fingerprint, suite, corruption, severity), number)
    path = folder / "predictions.npz"

    def compute() -> PredictionCell:
        started = time.perf_counter()
        prediction = corrupted_predictions(tested.model, run.shard_x(number), start, suite, corruption, severity,
                                           run.suite.seed, scalar_bounds(run, suite), run.suite.batch_size)  # fmt: skip
        return PredictionCell(prediction, time.perf_counter() - started)

    cell, computed = load_or_compute(PredictionCell, path, stop - start, compute)
    return (cell.prediction, cell.seconds), computed


def corrupt_model(
    run: RunContext, tested: ModelUnderTest, suite: CorruptionSuite, tick: Callable[[bool], None] | None = None
) -> tuple[dict[str, CorruptionRecord], int, int]:
    """Every corruption and severity of a suite on one model: a record per corruption, and how many
    cells were computed and reused."""
    records: dict[str, CorruptionRecord] = {}
    computed = reused = 0
    for corruption in suite.corruptions:
        columns, seconds = [], []
        for severity in suite.severities:
            parts, spent = [], 0.0
            for number in range(len(run.shards)):
                (prediction, took), fresh = predict_shard(run, tested, suite, corruption, severity, number)
                computed, reused = computed + fresh, reused + (not fresh)
                parts.append(prediction)
                spent += took
                if tick:
                    tick(fresh)
            columns.append(np.concatenate(parts))
            seconds.append(spent)
        records[corruption] = {
            "prediction": np.stack(columns, axis=1),
            "severities": list(suite.severities),
            "cell_seconds": seconds,
        }
    return records, computed, reused

"""The benchmark runner: models x evaluation suites (attacks at each eps, certificates at each sigma),
resumable, into :class:`Results`.

Each model is loaded, checked against the data and predicted once; then every kind of evaluation
(:mod:`robustkit.evaluation.evaluation_kinds`: attack suites, certification suites) evaluates it,
shard by shard of the data (:mod:`robustkit.evaluation.shards`). Every cell is saved atomically
when it completes (:mod:`robustkit.evaluation.cells`), so an interrupted run (even ``kill -9``)
resumes where it stopped and gives the same numbers. The run's settings and data live in one
:class:`~robustkit.evaluation.context.RunContext`; the tables are assembled at the end by a pure
function (:mod:`robustkit.evaluation.assemble`).

Example:
    >>> import tempfile
    >>> from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
    >>> linf = AttackSuite("linf", "linf", (0.05, 0.1), (AttackSpec("fgsm", "fgsm", "linf"),))
    >>> suite = BenchmarkSuite("tiny", "digits", ["digits-mlp"], [linf], limit=20, checks=False)
    >>> run = run_benchmark(suite, tempfile.mkdtemp())
    >>> run.summary[["attack_suite", "attack", "eps"]].values.tolist()[:2]
    [['linf', 'fgsm', 0.05], ['linf', 'fgsm', 0.1]]
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import robustkit
from robustkit.errors import LabelError, RobustkitError
from robustkit.evaluation.assemble import assemble
from robustkit.evaluation.context import RunContext
from robustkit.evaluation.evaluation_kinds import EVALUATION_KINDS, total_cells
from robustkit.evaluation.progress import ProgressFn, RunProgress
from robustkit.evaluation.results import RESULTS_FORMAT, Environment, ModelExamples, ModelInfo, Results
from robustkit.evaluation.shards import EvaluatedModel, ModelUnderTest
from robustkit.evaluation.suites import BenchmarkSuite
from robustkit.evaluation.summary import example_table
from robustkit.logits import as_logits, num_classes_of
from robustkit.ranges import bounds_to_json
from robustkit.tape import validate_input_shape


@dataclass
class BenchmarkRun:
    """Everything a benchmark produced: tables, the results and how much was computed or resumed."""

    summary: pd.DataFrame
    results: Results
    cells_computed: int = 0
    cells_reused: int = 0

    @property
    def examples(self) -> pd.DataFrame:
        """One row per model, attack suite, attack and example (built when asked for: it grows with the data)."""
        return example_table(self.results)


def environment() -> Environment:
    return {
        "robustkit": robustkit.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _validate_model_fits(model: Any, x: np.ndarray, y: np.ndarray, label: str, data_name: str) -> int:
    """The model takes the data's shape and has a class for every label (checked once per model); its classes."""
    sample = tf.constant(x[:8])
    try:
        validate_input_shape(model, sample)
        view = as_logits(model, x_sample=sample)
        classes = num_classes_of(view, sample)
    except RobustkitError as err:
        raise type(err)(f"Model {label!r} does not fit the data {data_name!r}: {err}") from None
    low, high = int(np.min(y)), int(np.max(y))
    if low < 0 or high >= classes:
        raise LabelError(
            f"Model {label!r} does not fit the data {data_name!r}: its labels lie in [{low}, {high}], but the model "
            f"has {classes} classes (labels 0 to {classes - 1}). Give the model that was trained on these classes, "
            "or data whose labels it knows."
        )
    return classes


def _new_results(run: RunContext) -> Results:
    data, y = run.data, run.y
    return {
        "format": RESULTS_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "suite": run.suite.config(),
        "data": {
            "name": data.name,
            "fingerprint": run.data_fingerprint,
            "n": int(len(y)),
            "num_classes": int(data.num_classes),
            "bounds": bounds_to_json(data.bounds),
            "info": data.info,
            "labels": y.astype(np.int64),
        },
        "models": {},
        "examples": {},
        "samples": [],
        "checks": [],
        "summary": [],
        "run": {"seconds": 0.0, "cells_computed": 0, "cells_reused": 0},
    }


def _evaluate_model(run: RunContext, spec_string: str, results: Results, progress: RunProgress) -> None:
    """One model under every kind of evaluation of the run (attacks, certificates), into ``results``."""
    tested = ModelUnderTest.load(spec_string, run.suite.seed)
    classes = _validate_model_fits(tested.model, run.x, run.y, tested.label, run.data.name)
    for kind in EVALUATION_KINDS:  # every kind says what it cannot do before any of them works
        kind.prepare(run, tested)
    clean_pred = run.predictions(tested.model)
    correct = clean_pred == run.y
    info: ModelInfo = {"spec": spec_string, "fingerprint": tested.fingerprint, "clean_accuracy": float(correct.mean())}
    results["models"][tested.label] = info
    examples: ModelExamples = {"clean_pred": clean_pred.astype(np.int64), "attack_suites": {}}
    results["examples"][tested.label] = examples
    model = EvaluatedModel(tested, clean_pred, correct, classes, examples)
    for kind in EVALUATION_KINDS:
        kind.evaluate(run, model, results, progress)


def run_benchmark(
    suite: BenchmarkSuite,
    out_dir: str | Path,
    progress: ProgressFn | None = None,
    fresh: bool = False,
    executor: str = "in-process",
    strategy: Any = None,
) -> BenchmarkRun:
    """Run a benchmark suite, resuming completed cells found under ``out_dir/cells``.

    Args:
        suite: what to run (see :mod:`robustkit.evaluation.suites`).
        out_dir: the report folder; cells are kept in ``out_dir/cells``.
        progress: called as ``progress(done, total, description)`` after each cell.
        fresh: ignore saved cells and recompute everything.
        executor: what computed the cells before this call (recorded in the results).
        strategy: a ``tf.distribute`` strategy (``MirroredStrategy``): batches run side by side on its
            replicas, one each, with the results of one device.
    """
    started = time.perf_counter()
    run = RunContext.open(suite, out_dir, fresh, strategy)
    counter = RunProgress(total_cells(run), progress)
    results = _new_results(run)
    for spec_string in suite.models:
        _evaluate_model(run, spec_string, results, counter)
    results, summary = assemble(results, run.suite.attack_suites)
    results["run"] = {
        "seconds": time.perf_counter() - started,
        "cells_computed": counter.computed,
        "cells_reused": counter.reused,
        "executor": executor,
    }
    return BenchmarkRun(summary, results, counter.computed, counter.reused)

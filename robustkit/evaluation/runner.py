"""The benchmark runner: models x attack suites x attacks x epsilons, resumable, into :class:`Results`.

For each model and attack the eps grid is swept from small to large on the survivors only (see
:mod:`robustkit.evaluation.sweep`), shard by shard of the data (:mod:`robustkit.evaluation.shards`).
Each (model, attack, eps) cell is saved atomically when it completes (:mod:`robustkit.evaluation.cells`),
so an interrupted run (even ``kill -9``) resumes where it stopped and gives the same numbers. The
run's settings and data live in one :class:`~robustkit.evaluation.context.RunContext`; the tables
are assembled at the end by a pure function (:mod:`robustkit.evaluation.assemble`).

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import robustkit
from robustkit.attacks.few_classes import substitution_note
from robustkit.errors import LabelError, RobustkitError
from robustkit.evaluation.assemble import assemble
from robustkit.evaluation.certification import certificate_check, certify_model
from robustkit.evaluation.checks import run_checks
from robustkit.evaluation.context import RunContext
from robustkit.evaluation.results import RESULTS_FORMAT, AttackRecord, Environment, ModelExamples, Results, Sample
from robustkit.evaluation.shards import ModelUnderTest, sweep_shard
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from robustkit.evaluation.summary import example_table
from robustkit.evaluation.sweep import attack_record, chained_record, merge_records
from robustkit.logits import as_logits, num_classes_of
from robustkit.ranges import bounds_to_json
from robustkit.tape import validate_input_shape

ProgressFn = Callable[[int, int, str], None]


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


class _Progress:
    """Cells done so far, and how many were computed or resumed, reported as they complete."""

    def __init__(self, run: RunContext, report: ProgressFn | None):
        suite = run.suite
        cells_per_model = sum(len(s.attacks) * len(s.eps) for s in suite.attack_suites)
        cells_per_model += sum(len(s.sigma) for s in suite.certification_suites)
        self.total = len(suite.models) * cells_per_model * len(run.shards)
        self.report, self.done, self.computed, self.reused = report, 0, 0, 0

    def ticker(self, description: str) -> Callable[[bool], None]:
        def tick(_: bool) -> None:
            self.done += 1
            if self.report:
                self.report(self.done, self.total, description)

        return tick


def _evaluate_model(run: RunContext, spec_string: str, results: Results, progress: _Progress) -> None:
    """Every attack suite and attack on one model, then its trust checks, into ``results``."""
    suite, x, y = run.suite, run.x, run.y
    tested = ModelUnderTest.load(spec_string, suite.seed)
    classes = _validate_model_fits(tested.model, x, y, tested.label, run.data.name)
    clean_pred = run.predictions(tested.model)
    correct = clean_pred == y
    info: dict = {"spec": spec_string, "fingerprint": tested.fingerprint, "clean_accuracy": float(correct.mean())}
    notes = [
        note
        for attack_suite in suite.attack_suites
        for spec in attack_suite.attacks
        if (note := substitution_note(f"{attack_suite.name}/{spec.name}", spec.loss_used, classes))
    ]
    if notes:
        info["substitutions"] = notes
    results["models"][tested.label] = info  # type: ignore[assignment]
    per_model: ModelExamples = {"clean_pred": clean_pred.astype(np.int64), "attack_suites": {}}
    for attack_suite in suite.attack_suites:
        run.validate_data(attack_suite)
        records: dict[str, AttackRecord] = {}
        before: AttackRecord | None = None
        for spec in attack_suite.attacks:
            skip = before["broken_eps"] if before is not None else None
            record = _attack(run, tested, attack_suite, spec, correct, clean_pred, skip, results, progress)
            if attack_suite.chain:
                record = before = chained_record(record, before)
            records[spec.name] = record
        per_model["attack_suites"][attack_suite.name] = records
    results["examples"][tested.label] = per_model
    if suite.checks and suite.attack_suites:
        first = suite.attack_suites[0]
        found = per_model["attack_suites"][first.name]
        classes_found = int(run.data.num_classes)
        checks = run_checks(
            tested.model, x, y, correct, first, found, run.bounds(first), classes_found, suite.seed, tested.label
        )
        results["checks"].extend(c.to_dict() for c in checks)
    _certify(run, tested, per_model, results, progress)


def _certify(run: RunContext, tested: ModelUnderTest, per_model: ModelExamples, results: Results, progress) -> None:
    """Every certification suite on one model, and the trust check that attacks its certificates."""
    for suite in run.suite.certification_suites:
        run.validate_data(suite)
        tick = progress.ticker(f"{tested.label} {suite.name}")
        certificates, computed, reused = certify_model(run, tested, suite, tick)
        progress.computed, progress.reused = progress.computed + computed, progress.reused + reused
        per_model.setdefault("certification_suites", {})[suite.name] = certificates
        if run.suite.checks:
            check = certificate_check(run, tested, suite, certificates)
            check.model = tested.label
            results["checks"].append(check.to_dict())


def _attack(
    run: RunContext,
    tested: ModelUnderTest,
    attack_suite: AttackSuite,
    spec: AttackSpec,
    correct: np.ndarray,
    clean_pred: np.ndarray,
    skip: np.ndarray | None,
    results: Results,
    progress: _Progress,
) -> AttackRecord:
    """One attack swept over the eps grid on every shard; the report's sample images come from the first shard."""
    tick = progress.ticker(f"{tested.label} {attack_suite.name} {spec.name}")
    records = []
    for number, (start, stop) in enumerate(run.shards):
        shard_skip = None if skip is None else skip[start:stop]
        cells, computed, reused = sweep_shard(
            run, tested, attack_suite, spec, number, correct[start:stop], shard_skip, tick
        )
        progress.computed += computed
        progress.reused += reused
        if number == 0:
            for eps, cell in cells.items():
                for index, x_adv in zip(cell.sample_indices, cell.sample_x_adv):
                    adv_pred = int(cell.adv_pred[np.flatnonzero(cell.indices == index)[0]])
                    results["samples"].append(
                        _sample(run, tested.label, attack_suite.name, spec.name, eps, index, adv_pred, x_adv)
                    )
        records.append(attack_record(cells, attack_suite.input_eps, clean_pred[start:stop]))
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
    counter = _Progress(run, progress)
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

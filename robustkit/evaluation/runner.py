"""The benchmark runner: models x attack suites x attacks x epsilons, resumable, into :class:`Results`.

For each model and attack the eps grid is swept from small to large on the survivors only (see
:mod:`robustkit.evaluation.sweep`). Each (model, attack, eps) cell is saved atomically when it
completes (:mod:`robustkit.evaluation.cells`), so an interrupted run (even ``kill -9``) resumes
where it stopped and gives the same numbers.

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

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import robustkit
from robustkit.attacks.few_classes import substitution_note
from robustkit.errors import DataError, InputError, LabelError, RobustkitError
from robustkit.evaluation.checks import run_checks
from robustkit.evaluation.contributions import contribution_rows
from robustkit.evaluation.results import RESULTS_FORMAT, AttackRecord, Environment, ModelExamples, Results, Sample
from robustkit.evaluation.samples import select_samples
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from robustkit.evaluation.summary import example_table, summarize
from robustkit.evaluation.sweep import attack_record, chained_record, merge_records, sweep
from robustkit.logits import as_logits, num_classes_of
from robustkit.ranges import bounds_to_json, ensure_data_in_bounds
from robustkit.sources.classes import with_class_names
from robustkit.sources.data import CHUNK, DataSplit, load_data
from robustkit.sources.models import fingerprint, load_model, model_label
from robustkit.tape import validate_input_shape
from robustkit.tracing import compiled_predict

ProgressFn = Callable[[int, int, str], None]
# Settings of an attack suite that change how results are shown, not what is computed: not part of a cell's key.
PRESENTATION_KEYS = ("headline_eps", "eps_written")


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


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def predict_labels(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Predicted classes in batches, in inference mode, through the logits view."""
    view = as_logits(model, x_sample=tf.constant(x[:8]))
    forward = compiled_predict(view, x.shape[1:], tf.as_dtype(x.dtype))
    parts = [forward(tf.constant(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


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


def _validate_data(data: DataSplit, bounds: tuple[Any, Any]) -> None:
    """Finite and inside the bounds, checked a chunk at a time (the data may be on disk)."""
    x = data.x_test
    if len(x) == 0:
        raise DataError(f"The data {data.name!r} has no test examples.")
    for start in range(0, len(x), CHUNK):
        part = np.asarray(x[start : start + CHUNK])
        if not np.all(np.isfinite(part)):
            raise InputError(f"The data {data.name!r} contains NaN or Inf inputs (from example {start} on).")
        ensure_data_in_bounds(part, bounds, f"The data {data.name!r}")


def _new_results(suite: BenchmarkSuite, data: DataSplit, y: np.ndarray) -> Results:
    return {
        "format": RESULTS_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "suite": suite.config(),
        "data": {
            "name": data.name,
            "fingerprint": data.fingerprint(),
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


class _Runner:
    """One run's state: the data, the results being filled in, and the progress counters."""

    def __init__(
        self, suite: BenchmarkSuite, out_dir: Path, progress: ProgressFn | None, fresh: bool, strategy: Any = None
    ):
        self.suite, self.out_dir, self.progress, self.fresh = suite, out_dir, progress, fresh
        self.strategy = strategy  # a tf.distribute strategy: batches side by side on its replicas
        self.data = with_class_names(load_data(suite.data), suite.class_names).take(suite.limit)
        # eps written as fractions of the range ("8/255") become input units once the bounds are known;
        # under a per-feature eps scale, eps is in the scale's units and a fraction is just a number
        self.suite = suite = replace(suite, attack_suites=[self.threat_model(s) for s in suite.attack_suites])
        self.x, self.y = self.data.x_test, self.data.y_test  # x may stay on disk (NpyOnDisk): read a shard at a time
        self.results = _new_results(suite, self.data, self.y)
        n = len(self.y)
        self.shards = [(start, min(start + suite.shard_size, n)) for start in range(0, n, suite.shard_size)]
        cells_per_model = sum(len(s.attacks) * len(s.eps) for s in suite.attack_suites)
        self.total = len(suite.models) * cells_per_model * len(self.shards)
        self.done = self.computed = self.reused = 0
        self.validated: set[str] = set()  # the bounds the data was checked against

    def threat_model(self, attack_suite: AttackSuite) -> AttackSuite:
        """An attack suite with its eps in input units and the suite's feature constraints resolved on the data."""
        features = self.suite.features
        if not features:
            return attack_suite.resolved(self.bounds(attack_suite))
        sample = np.asarray(self.data.x_test[:CHUNK], np.float64)  # the scale ("std") of data that may be on disk
        constraints = features.resolve(self.data.info.get("features"), sample, self.bounds(attack_suite))
        scaled = features.eps_scale is not None
        resolved = attack_suite.resolved((0.0, 1.0) if scaled else self.bounds(attack_suite))
        return replace(resolved, constraints=constraints)

    def validate_data(self, attack_suite: AttackSuite) -> None:
        """Check the data against an attack suite's bounds, once per bounds (a pass over data that may be large)."""
        bounds = self.bounds(attack_suite)
        if repr(bounds) not in self.validated:
            _validate_data(self.data, bounds)
            self.validated.add(repr(bounds))

    def bounds(self, attack_suite: AttackSuite) -> tuple[Any, Any]:
        """The bounds in force: the benchmark's (file or --bounds), else the attack suite's, else the data's."""
        lower, upper = bounds_to_json(self.suite.bounds or attack_suite.bounds or self.data.bounds)
        return lower, upper

    def model(self, spec_string: str) -> None:
        """Every attack suite and attack on one model, then its trust checks."""
        suite, x, y = self.suite, self.x, self.y
        label = model_label(spec_string)
        model = load_model(spec_string, seed=suite.seed)
        model_hash = fingerprint(model)
        classes = _validate_model_fits(model, x, y, label, self.data.name)
        clean_pred = self.clean_predictions(model)
        correct = clean_pred == y
        self.results["models"][label] = {
            "spec": spec_string,
            "fingerprint": model_hash,
            "clean_accuracy": float(correct.mean()),
        }
        notes = [
            note
            for attack_suite in suite.attack_suites
            for spec in attack_suite.attacks
            if (note := substitution_note(f"{attack_suite.name}/{spec.name}", spec.loss_used, classes))
        ]
        if notes:
            self.results["models"][label]["substitutions"] = notes
        per_model: ModelExamples = {"clean_pred": clean_pred.astype(np.int64), "attack_suites": {}}
        for attack_suite in suite.attack_suites:
            self.validate_data(attack_suite)
            records: dict[str, AttackRecord] = {}
            before: AttackRecord | None = None
            for spec in attack_suite.attacks:
                skip = before["broken_eps"] if before is not None else None
                record = self.attack(model, model_hash, label, attack_suite, spec, correct, clean_pred, skip)
                if attack_suite.chain:
                    record = before = chained_record(record, before)
                records[spec.name] = record
            per_model["attack_suites"][attack_suite.name] = records
        self.results["examples"][label] = per_model
        if suite.checks and suite.attack_suites:
            first = suite.attack_suites[0]
            checks = run_checks(
                model,
                x,
                y,
                correct,
                first,
                per_model["attack_suites"][first.name],
                self.bounds(first),
                int(self.data.num_classes),
                suite.seed,
                label,
            )
            self.results["checks"].extend(c.to_dict() for c in checks)

    def clean_predictions(self, model: Any) -> np.ndarray:
        """Predicted classes, a shard at a time (the same batches whichever process computes a shard)."""
        parts = [self.shard_predictions(model, number) for number in range(len(self.shards))]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def shard_predictions(self, model: Any, number: int) -> np.ndarray:
        start, stop = self.shards[number]
        return predict_labels(model, np.asarray(self.x[start:stop], dtype=np.float32), self.suite.batch_size)

    def cell_dir(self, label: str, model_hash: str, attack_suite: AttackSuite, spec: AttackSpec) -> Path:
        """Where the cells of one model, attack suite and attack live (keyed by everything they depend on)."""
        # The key names stay as in earlier versions, so cells saved by them are still found.
        key = _digest(
            {
                "model": model_hash,
                "data": self.results["data"]["fingerprint"],
                "threat": {k: v for k, v in attack_suite.config().items() if k not in PRESENTATION_KEYS},
                "attack": spec.config(),
                "seed": self.suite.seed,
                "batch_size": self.suite.batch_size,
                "bounds": self.bounds(attack_suite),
            }
        )
        return self.out_dir / "cells" / label / attack_suite.name / f"{spec.name}-{key}"

    def shard_cells(self, model, label, attack_suite, spec, cell_dir, number, correct, tick=None, skip=None):
        """The sweep of one attack over one shard: its cells by eps, and how many were computed and reused.

        ``skip``: in a chained suite, the eps at which an earlier attack broke each example of the shard.
        """
        start, stop = self.shards[number]
        # One shard of the data in memory at a time; a single shard keeps the cells where they always were.
        shard_dir = cell_dir if len(self.shards) == 1 else cell_dir / f"shard-{number:05d}-{start}-{stop}"
        if self.fresh and shard_dir.exists():
            for old in shard_dir.glob("*.npz"):
                old.unlink()
        suite = self.suite
        x_shard = np.asarray(self.x[start:stop], dtype=np.float32)
        return sweep(
            model,
            x_shard,
            self.y[start:stop],
            correct,
            spec,
            attack_suite,
            self.bounds(attack_suite),
            suite.seed,
            suite.batch_size,
            shard_dir,
            label,
            tick,
            self.strategy,
            offset=start,
            broken_before=skip,
        )

    def attack(self, model, model_hash, label, attack_suite, spec, correct, clean_pred, skip=None):
        cell_dir = self.cell_dir(label, model_hash, attack_suite, spec)

        def tick(_):
            self.done += 1
            if self.progress:
                self.progress(self.done, self.total, f"{label} {attack_suite.name} {spec.name}")

        records = []
        for number, (start, stop) in enumerate(self.shards):
            cells, computed, reused = self.shard_cells(
                model,
                label,
                attack_suite,
                spec,
                cell_dir,
                number,
                correct[start:stop],
                tick,
                None if skip is None else skip[start:stop],
            )
            self.computed += computed
            self.reused += reused
            if number == 0:  # the report's pictures come from the first shard
                for eps, cell in cells.items():
                    for index, x_adv in zip(cell.sample_indices, cell.sample_x_adv):
                        self.results["samples"].append(
                            self.sample(label, attack_suite.name, spec.name, eps, cell, index, x_adv)
                        )
            records.append(attack_record(cells, attack_suite.input_eps, clean_pred[start:stop]))
        return merge_records(records)

    def sample(self, label, suite_name, attack, eps, cell, index, x_adv) -> Sample:
        adv_pred = int(cell.adv_pred[np.flatnonzero(cell.indices == index)[0]])
        return {
            "model": label,
            "attack_suite": suite_name,
            "attack": attack,
            "eps": eps,
            "index": int(index),
            "label": int(self.y[index]),
            "adv_pred": adv_pred,
            "x": np.round(self.x[index], 5).tolist(),
            "x_adv": np.round(x_adv, 5).tolist(),
        }


@dataclass(frozen=True)
class ShardTask:
    """One unit of work an executor can hand out: one attack of one attack suite, on one model and one shard."""

    model: str  # a model spec of the suite
    attack_suite: str
    attack: str
    shard: int


def shard_tasks(suite: BenchmarkSuite, n_examples: int) -> list[ShardTask]:
    """Every task of a suite, for data of ``n_examples`` (the largest shards' work is not known in advance).

    Example:
        >>> from robustkit.evaluation.suites import AttackSpec, AttackSuite
        >>> linf = AttackSuite("linf", "linf", (0.1,), (AttackSpec("fgsm", "fgsm", "linf"),))
        >>> len(shard_tasks(BenchmarkSuite("s", "digits", ["digits-mlp"], [linf], shard_size=100), 360))
        4
    """
    shards = range(max(1, -(-n_examples // suite.shard_size)))
    return [
        ShardTask(model, attack_suite.name, spec.name, shard)
        for model in suite.models
        for attack_suite in suite.attack_suites
        # A chained suite's attacks depend on the ones before: one task runs the whole chain on its shard.
        for spec in (attack_suite.attacks[-1:] if attack_suite.chain else attack_suite.attacks)
        for shard in shards
    ]


def compute_shard(suite: BenchmarkSuite, out_dir: str | Path, task: ShardTask) -> int:
    """Compute and save the cells of one task (skipping those already saved); returns how many were computed.

    Any process that sees ``out_dir`` can run it: a later :func:`run_benchmark` on the same folder
    finds the cells and assembles the same results as if it had computed them itself.
    """
    runner = _Runner(suite, Path(out_dir), None, False)
    model = load_model(task.model, seed=runner.suite.seed)
    label = model_label(task.model)
    attack_suite = next(s for s in runner.suite.attack_suites if s.name == task.attack_suite)
    spec = next(a for a in attack_suite.attacks if a.name == task.attack)
    runner.validate_data(attack_suite)
    clean_pred = runner.shard_predictions(model, task.shard)
    correct = clean_pred == runner.y[slice(*runner.shards[task.shard])]
    model_hash = fingerprint(model)
    chain = attack_suite.attacks[: attack_suite.attacks.index(spec) + 1] if attack_suite.chain else (spec,)
    total, before = 0, None
    for link in chain:  # in a chained suite, the attacks up to this one, in order, on this shard
        cell_dir = runner.cell_dir(label, model_hash, attack_suite, link)
        skip = None if before is None else before["broken_eps"]
        cells, computed, _ = runner.shard_cells(
            model, label, attack_suite, link, cell_dir, task.shard, correct, None, skip
        )
        before = chained_record(attack_record(cells, attack_suite.input_eps, clean_pred), before)
        total += computed
    return total


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
    runner = _Runner(suite, Path(out_dir), progress, fresh, strategy)
    for spec_string in suite.models:
        runner.model(spec_string)
    results = runner.results
    results["samples"] = select_samples(results["samples"], runner.suite.attack_suites)
    summary = summarize(results)
    results["summary"] = json.loads(summary.to_json(orient="records"))
    results["contributions"] = contribution_rows(results)
    results["run"] = {
        "seconds": time.perf_counter() - started,
        "cells_computed": runner.computed,
        "cells_reused": runner.reused,
        "executor": executor,
    }
    return BenchmarkRun(summary, results, runner.computed, runner.reused)

"""One run's context: the suite with its threat models resolved on the data, the data cut into shards,
the cell store's folder and how the work runs (fresh or resumed, on which devices).

Built once per run (:meth:`RunContext.open`) by the runner and by every process that computes
shards; nothing in it changes while cells are computed, except the record of which bounds the
data was already checked against.

Example:
    >>> import tempfile
    >>> from fractions import Fraction
    >>> from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
    >>> linf = AttackSuite("linf", "linf", (Fraction(8, 255),), (AttackSpec("fgsm", "fgsm", "linf"),))
    >>> run = RunContext.open(BenchmarkSuite("s", "digits", ["digits-mlp"], [linf], limit=50, shard_size=20),
    ...                       tempfile.mkdtemp())
    >>> run.shards, run.suite.attack_suites[0].eps
    ([(0, 20), (20, 40), (40, 50)], (0.03137254901960784,))
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.errors import DataError, InputError
from robustkit.evaluation.certification_suites import CertificationSuite
from robustkit.evaluation.corruption_suites import CorruptionSuite
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from robustkit.evaluation.verification_suites import EvaluationSuite, VerificationSuite
from robustkit.logits import as_logits
from robustkit.ranges import bounds_to_json, ensure_data_in_bounds
from robustkit.sources.classes import with_class_names
from robustkit.sources.data import CHUNK, DataSplit, load_data
from robustkit.tracing import compiled_predict

# Settings of an attack suite that change how results are shown, not what is computed: not part of a cell's key.
PRESENTATION_KEYS = ("headline_eps", "eps_written")


def predict_labels(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Predicted classes in batches, in inference mode, through the logits view."""
    view = as_logits(model, x_sample=tf.constant(x[:8]))
    forward = compiled_predict(view, x.shape[1:], tf.as_dtype(x.dtype))
    parts = [forward(tf.constant(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class RunContext:
    """What every part of a run reads: see the module docstring."""

    suite: BenchmarkSuite  # its attack suites with eps in input units and constraints resolved
    data: DataSplit
    out_dir: Path
    shards: list[tuple[int, int]]  # [start, stop) of each shard of the test data
    fresh: bool = False  # recompute every cell rather than resume
    strategy: Any = None  # a tf.distribute strategy: batches side by side on its replicas
    data_fingerprint: str = ""  # of the test data (a pass over it: computed once)
    validated: set[str] = field(default_factory=set)  # the bounds the data was checked against

    @classmethod
    def open(cls, suite: BenchmarkSuite, out_dir: str | Path, fresh: bool = False, strategy: Any = None) -> RunContext:
        """Load the suite's data and resolve its threat models on it (eps in input units, constraints)."""
        data = with_class_names(load_data(suite.data), suite.class_names).take(suite.limit)
        n = len(data.y_test)
        shards = [(start, min(start + suite.shard_size, n)) for start in range(0, n, suite.shard_size)]
        run = cls(suite, data, Path(out_dir), shards, fresh, strategy, data.fingerprint())
        # eps written as fractions of the range ("8/255") become input units once the bounds are known;
        # under a per-feature eps scale, eps is in the scale's units and a fraction is just a number
        run.suite = replace(
            suite,
            attack_suites=[run._threat_model(s) for s in suite.attack_suites],
            verification_suites=[s.resolved(run.bounds(s)) for s in suite.verification_suites],
            certification_suites=[s.resolved(run.bounds(s)) for s in suite.certification_suites],
        )
        return run

    @property
    def x(self) -> Any:
        """The test inputs; they may stay on disk (read a shard at a time)."""
        return self.data.x_test

    @property
    def y(self) -> np.ndarray:
        return self.data.y_test

    def _threat_model(self, attack_suite: AttackSuite) -> AttackSuite:
        features = self.suite.features
        if not features:
            return attack_suite.resolved(self.bounds(attack_suite))
        sample = np.asarray(self.x[:CHUNK], np.float64)  # the scale ("std") of data that may be on disk
        constraints = features.resolve(self.data.info.get("features"), sample, self.bounds(attack_suite))
        scaled = features.eps_scale is not None
        resolved = attack_suite.resolved((0.0, 1.0) if scaled else self.bounds(attack_suite))
        return replace(resolved, constraints=constraints)

    def bounds(self, evaluation_suite: EvaluationSuite) -> tuple[Any, Any]:
        """The bounds in force: the benchmark's (file or --bounds), else the evaluation suite's, else the data's."""
        lower, upper = bounds_to_json(self.suite.bounds or evaluation_suite.bounds or self.data.bounds)
        return lower, upper

    def attack_suite(self, name: str) -> AttackSuite:
        return next(s for s in self.suite.attack_suites if s.name == name)

    def validate_data(self, evaluation_suite: EvaluationSuite) -> None:
        """Finite and inside an evaluation suite's bounds, checked a chunk at a time, once per bounds."""
        bounds = self.bounds(evaluation_suite)
        if repr(bounds) in self.validated:
            return
        if len(self.x) == 0:
            raise DataError(f"The data {self.data.name!r} has no test examples.")
        for start in range(0, len(self.x), CHUNK):
            part = np.asarray(self.x[start : start + CHUNK])
            if not np.all(np.isfinite(part)):
                raise InputError(f"The data {self.data.name!r} contains NaN or Inf inputs (from example {start} on).")
            ensure_data_in_bounds(part, bounds, f"The data {self.data.name!r}")
        self.validated.add(repr(bounds))

    def shard_x(self, number: int) -> np.ndarray:
        """One shard's inputs in memory, as float32 (what the models read)."""
        start, stop = self.shards[number]
        return np.asarray(self.x[start:stop], dtype=np.float32)

    def shard_predictions(self, model: Any, number: int) -> np.ndarray:
        """A shard's predicted classes (the same batches whichever process computes the shard)."""
        return predict_labels(model, self.shard_x(number), self.suite.batch_size)

    def predictions(self, model: Any) -> np.ndarray:
        parts = [self.shard_predictions(model, number) for number in range(len(self.shards))]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    # -- the cell store: one folder per model, attack suite and attack, keyed by what its cells depend on --

    def cell_dir(self, label: str, model_hash: str, attack_suite: AttackSuite, spec: AttackSpec) -> Path:
        """Where the cells of one model, attack suite and attack live (keyed by everything they depend on)."""
        # The key names stay as in earlier versions, so cells saved by them are still found.
        key = _digest(
            {
                "model": model_hash,
                "data": self.data_fingerprint,
                "threat": {k: v for k, v in attack_suite.config().items() if k not in PRESENTATION_KEYS},
                "attack": spec.config(),
                "seed": self.suite.seed,
                "batch_size": self.suite.batch_size,
                "bounds": self.bounds(attack_suite),
            }
        )
        return self.out_dir / "cells" / label / attack_suite.name / f"{spec.name}-{key}"

    def certificate_dir(self, label: str, model_hash: str, suite: CertificationSuite, certifier: dict) -> Path:
        """Where one certifier's cells (one sigma of a certification suite) live, keyed by what they depend on."""
        depends = {"model": model_hash, "data": self.data_fingerprint, "certifier": certifier, "seed": self.suite.seed}
        key = _digest(depends)
        return self.out_dir / "cells" / label / suite.name / f"{certifier['kind']}-{key}"

    def verification_dir(self, label: str, model_hash: str, suite: VerificationSuite, eps: float) -> Path:
        """Where one eps's answers of a verification suite live, keyed by what they depend on."""
        depends = {"model": model_hash, "data": self.data_fingerprint, "verifier": suite.cell_key(eps),
                   "bounds": self.bounds(suite)}  # fmt: skip
        return self.out_dir / "cells" / label / suite.name / f"eps={eps:g}-{_digest(depends)}"

    def corruption_dir(
        self, label: str, model_hash: str, suite: CorruptionSuite, corruption: str, severity: int
    ) -> Path:
        """Where one corruption and severity's predictions live, keyed by what they depend on."""
        key = suite.cell_key(corruption, severity)
        depends = {"model": model_hash, "data": self.data_fingerprint, "corruption": key, "seed": self.suite.seed,
                   "bounds": self.bounds(suite)}  # fmt: skip
        return self.out_dir / "cells" / label / suite.name / f"{corruption}-{severity}-{_digest(depends)}"

    def shard_dir(self, cell_dir: Path, number: int) -> Path:
        """A shard's folder of cells (emptied first in a fresh run); one shard keeps them where they always were."""
        start, stop = self.shards[number]
        folder = cell_dir if len(self.shards) == 1 else cell_dir / f"shard-{number:05d}-{start}-{stop}"
        if self.fresh and folder.exists():
            for old in folder.glob("*.npz"):
                old.unlink()
        return folder

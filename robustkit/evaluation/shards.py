"""Shards: the units of work an executor hands out, and what every kind of evaluation reads of a model.

A task is one method of one evaluation suite (an attack of an attack suite, a sigma of a
certification suite) on one model and one shard of the data; a chained attack suite's attacks
depend on the ones before, so one task runs the whole chain on its shard. Any process that sees
the report folder can compute a task
(:func:`~robustkit.evaluation.evaluation_kinds.compute_shard`); a later
:func:`~robustkit.evaluation.runner.run_benchmark` on the same folder finds the cells and
assembles the same results as if it had computed them itself. Each kind of evaluation says what
its tasks are (:func:`~robustkit.evaluation.evaluation_kinds.shard_tasks`).

Example:
    >>> ShardTask("digits-mlp", "linf", "fgsm", 2).shard
    2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robustkit.evaluation.results import ModelExamples
from robustkit.sources.models import fingerprint, load_model, model_label


@dataclass(frozen=True)
class ShardTask:
    """One unit of work an executor can hand out: one method of one evaluation suite, on one model and shard."""

    model: str  # a model spec of the suite
    suite: str  # an evaluation suite's name (attack or certification suite)
    method: str  # an attack's name, or a certifier's ("sigma=0.25")
    shard: int


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


@dataclass
class EvaluatedModel:
    """What every kind of evaluation reads of one model, and the per-example records each adds to."""

    tested: ModelUnderTest
    clean_pred: np.ndarray
    correct: np.ndarray
    classes: int  # the model's number of classes
    examples: ModelExamples  # each kind fills in its own records

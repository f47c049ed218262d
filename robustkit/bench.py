"""The benchmark runner: models x threat models x attacks x epsilons.

For each model and attack the epsilon grid is swept from small to large. An example broken at
some eps stays broken at every larger eps (the same adversarial example is inside the larger
ball), so only the examples that survived the previous eps are attacked at the next one, and
with early stopping each of those stops as soon as it is misclassified. Robust accuracy is
therefore non-increasing in eps by construction, and never higher than independent runs give.

Each (model, attack, eps) cell is saved atomically when it completes, so an interrupted run
(even ``kill -9``) resumes where it stopped and gives the same numbers.

Example:
    >>> from robustkit.suite import load_benchmark_suite
    >>> suite = load_benchmark_suite("default")
    >>> run = run_benchmark(suite, "reports/default")  # doctest: +SKIP
    >>> run.summary.columns[:4].tolist()  # doctest: +SKIP
    ['model', 'attack', 'norm', 'eps']
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import tensorflow as tf

from robustkit.attacks.compiled import evaluation_at_x, run_validated
from robustkit.checks import run_checks
from robustkit.data import DataSplit, load_data
from robustkit.errors import DataError, InputError, RobustkitError
from robustkit.gradients import validate_input_shape, compiled_predict
from robustkit.inputs import as_int_labels
from robustkit.logits import as_logits, num_classes_of
from robustkit.models import fingerprint, load_model, model_label
from robustkit.stats import wilson_interval
from robustkit.suite import AttackSpec, BenchmarkSuite, ThreatModel

SUMMARY_COLUMNS = [
    "model", "threat", "attack", "norm", "eps", "n", "clean_accuracy", "robust_accuracy",
    "robust_accuracy_low", "robust_accuracy_high", "success_rate", "mean_norm", "median_norm",
    "grad_evals", "seconds",
]
SAMPLES_PER_CELL = 4

ProgressFn = Callable[[int, int, str], None]


@dataclass
class Cell:
    """What one (model, attack, eps) step of a sweep attacked and found."""

    indices: np.ndarray
    success: np.ndarray
    adv_pred: np.ndarray
    norms: np.ndarray
    grad_evals: np.ndarray
    seconds: float
    sample_indices: np.ndarray
    sample_x_adv: np.ndarray

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the complete new one, never a part."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cell-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **{k: np.asarray(v) for k, v in self.__dict__.items()})
            # The rename is atomic: a killed process leaves the old file or the new one. (No
            # fsync: that would guard against power loss, at a cost paid on every cell.)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def load(path: Path) -> "Cell | None":
        try:
            with np.load(path, allow_pickle=False) as data:
                values = {k: data[k] for k in data.files}
            values["seconds"] = float(values["seconds"])
            return Cell(**values)
        except Exception:  # missing or unreadable: recompute the cell
            return None


@dataclass
class BenchmarkRun:
    """Everything a benchmark produced: tables, metadata and sample images."""

    summary: pd.DataFrame
    examples: pd.DataFrame
    results: dict
    cells_computed: int = 0
    cells_reused: int = 0
    out_dir: Path | None = None


def cell_seed(seed: int, *parts: Any) -> int:
    """A seed per cell, stable across processes (so resumed runs match uninterrupted ones)."""
    return (seed * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % (2**31 - 1)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def predict_labels(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Predicted classes in batches, in inference mode, through the logits view."""
    view = as_logits(model, x_sample=tf.constant(x[:8]))
    forward = compiled_predict(view, x.shape[1:], tf.as_dtype(x.dtype))
    parts = [forward(tf.constant(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def _check_model_fits(model: Any, x: np.ndarray, y: np.ndarray, label: str) -> None:
    """The model takes the data's shape and has a class for every label (checked once per model)."""
    sample = tf.constant(x[:8])
    try:
        validate_input_shape(model, sample)
        view = as_logits(model, x_sample=sample)
        classes = num_classes_of(view, sample)
        as_int_labels(y, classes, len(y), name=f"the labels of the data (model {label})")
    except RobustkitError as err:
        raise type(err)(f"Model {label!r} does not fit the data: {err}") from None


def _validate_data(data: DataSplit, bounds: tuple[float, float]) -> None:
    x = data.x_test
    if len(x) == 0:
        raise DataError(f"The data {data.name!r} has no test examples.")
    if not np.all(np.isfinite(x)):
        raise InputError(f"The data {data.name!r} contains NaN or Inf inputs.")
    if x.min() < bounds[0] - 1e-6 or x.max() > bounds[1] + 1e-6:
        raise InputError(
            f"The data {data.name!r} has values in [{x.min():.4g}, {x.max():.4g}], outside the threat "
            f"model's bounds {bounds}. Rescale the data or set bounds = [low, high] in the attack suite."
        )


def sweep(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    correct: np.ndarray,
    spec: AttackSpec,
    threat: ThreatModel,
    bounds: tuple[float, float],
    seed: int,
    batch_size: int,
    cell_dir: Path,
    label: str,
    on_cell: Callable[[bool], None] | None = None,
) -> tuple[dict[float, Cell], int, int]:
    """Attack one model with one attack over the eps grid, survivors only, resuming saved cells.

    ``x`` and ``y`` must already be checked (finite, inside ``bounds``, labels in range).
    """
    view = as_logits(model, x_sample=tf.constant(x[:8]))
    alive = np.flatnonzero(correct)
    cells: dict[float, Cell] = {}
    computed = reused = 0
    # Without a random start, every eps begins with a step from x whose gradient does not depend
    # on eps: it is computed once (when first needed) and its cost charged to the first cell
    # that attacks anything, whether that cell is computed now or was saved by an earlier run.
    at_x: _AtX | None = None
    charged = False
    for eps in threat.eps:
        path = cell_dir / f"eps-{eps:.10g}.npz"
        cell = Cell.load(path)
        if cell is not None and not np.array_equal(cell.indices, alive):
            cell = None  # saved by a different sweep: recompute rather than trust it
        charge_here = bool(len(alive)) and not spec.random_start and not charged
        charged = charged or charge_here
        if cell is None:
            start = time.perf_counter()
            if len(alive):
                attack = spec.build(eps, bounds, cell_seed(seed, label, threat.name, spec.name, eps), batch_size)
                if attack.step_rule().starts_at_x and at_x is None:
                    at_x = _AtX.compute(attack, view, x, y, alive, batch_size)
                result = _attack_checked(attack, view, x, y, alive, batch_size, at_x if attack.step_rule().starts_at_x else None)
                success = result.success
                chosen = np.flatnonzero(success)[:SAMPLES_PER_CELL]
                grad_evals = result.grad_evals + int(charge_here)
                cell = Cell(alive, success, result.adv_pred, result.norms, grad_evals, 0.0,
                            alive[chosen], result.x_adv.numpy()[chosen])
            else:
                empty = np.zeros(0)
                cell = Cell(alive, empty.astype(bool), empty.astype(np.int32), empty, empty.astype(np.int32), 0.0,
                            empty.astype(np.int64), np.zeros((0,) + x.shape[1:], x.dtype))
            cell.seconds = time.perf_counter() - start
            cell.save(path)
            computed += 1
        else:
            reused += 1
        cells[eps] = cell
        alive = alive[~cell.success.astype(bool)]
        if on_cell:
            on_cell(cell is not None)
    return cells, computed, reused


@dataclass
class _AtX:
    """Objective, gradient and prediction at each clean example, for attacks that start at x."""

    objective: np.ndarray
    gradient: np.ndarray
    prediction: np.ndarray

    @staticmethod
    def compute(attack, view, x: np.ndarray, y: np.ndarray, rows: np.ndarray, batch_size: int) -> "_AtX":
        at_x = _AtX(np.zeros(len(x), x.dtype), np.zeros_like(x), np.zeros(len(x), np.int32))
        for start in range(0, len(rows), batch_size):
            chosen = rows[start : start + batch_size]
            obj, grad, pred = evaluation_at_x(attack, view, tf.constant(x[chosen]), tf.constant(y[chosen], tf.int32))
            at_x.objective[chosen], at_x.gradient[chosen], at_x.prediction[chosen] = obj.numpy(), grad.numpy(), pred.numpy()
        return at_x

    def rows(self, chosen: np.ndarray) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return tuple(tf.constant(a[chosen]) for a in (self.objective, self.gradient, self.prediction))


def _attack_checked(attack, view, x: np.ndarray, y: np.ndarray, rows: np.ndarray, batch_size: int, at_x: _AtX | None = None):
    """Attack ``x[rows]`` in batches; the data were checked once, up front, by the runner."""
    from robustkit.attacks import AttackResult

    parts = []
    for index, start in enumerate(range(0, len(rows), batch_size)):
        chosen = rows[start : start + batch_size]
        parts.append(run_validated(attack, view, tf.constant(x[chosen]), tf.constant(y[chosen], tf.int32), None,
                                          tf.constant([attack.seed, index], tf.int32), with_clean=False,
                                          first=None if at_x is None else at_x.rows(chosen)))
    return AttackResult.concat(parts)


def _summary_row(model, threat, attack, eps, n, correct, broken_eps, norms, grad_evals, seconds) -> dict:
    broken = ~np.isnan(broken_eps) & (broken_eps <= eps + 1e-12)
    robust = correct & ~broken
    k = int(robust.sum())
    low, high = wilson_interval(k, n)
    broken_norms = norms[broken]
    n_correct = int(correct.sum())
    return {
        "model": model,
        "threat": threat.name,
        "attack": attack,
        "norm": threat.norm,
        "eps": float(eps),
        "n": n,
        "clean_accuracy": float(correct.mean()),
        "robust_accuracy": k / n,
        "robust_accuracy_low": low,
        "robust_accuracy_high": high,
        "success_rate": float(broken[correct].sum() / n_correct) if n_correct else float("nan"),
        "mean_norm": float(broken_norms.mean()) if broken_norms.size else float("nan"),
        "median_norm": float(np.median(broken_norms)) if broken_norms.size else float("nan"),
        "grad_evals": int(grad_evals),
        "seconds": float(seconds),
    }


def summarize(results: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the summary and per-example tables from a ``results.json`` dictionary."""
    rows, example_rows = [], []
    labels = np.asarray(results["data"]["labels"])
    n = len(labels)
    for model, per_model in results["examples"].items():
        clean_pred = np.asarray(per_model["clean_pred"])
        correct = clean_pred == labels
        for threat_cfg in results["suite"]["threat_models"]:
            threat = ThreatModel(threat_cfg["name"], threat_cfg["norm"], tuple(threat_cfg["eps"]), ())
            per_attack = per_model["threats"][threat.name]
            worst_eps = np.full(n, np.inf)
            worst_norm = np.full(n, np.nan)
            for attack, record in per_attack.items():
                broken_eps = np.array([np.nan if v is None else v for v in record["broken_eps"]], float)
                norms = np.array([np.nan if v is None else v for v in record["norm"]], float)
                for eps, evals, seconds in zip(threat.eps, record["cell_grad_evals"], record["cell_seconds"]):
                    rows.append(_summary_row(model, threat, attack, eps, n, correct, broken_eps, norms, evals, seconds))
                earlier = np.nan_to_num(broken_eps, nan=np.inf) < worst_eps
                same = np.nan_to_num(broken_eps, nan=np.inf) == worst_eps
                worst_norm = np.where(earlier, norms, np.where(same, np.fmin(worst_norm, norms), worst_norm))
                worst_eps = np.minimum(worst_eps, np.nan_to_num(broken_eps, nan=np.inf))
                for i in range(n):
                    example_rows.append((model, threat.name, threat.norm, attack, i, int(labels[i]), int(clean_pred[i]),
                                         broken_eps[i], record["adv_pred"][i], norms[i]))
            worst = np.where(np.isinf(worst_eps), np.nan, worst_eps)
            for j, eps in enumerate(threat.eps):
                evals = sum(per_attack[a]["cell_grad_evals"][j] for a in per_attack)
                seconds = sum(per_attack[a]["cell_seconds"][j] for a in per_attack)
                rows.append(_summary_row(model, threat, "worst-case", eps, n, correct, worst, worst_norm, evals, seconds))
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    examples = pd.DataFrame(example_rows, columns=["model", "threat", "norm", "attack", "index", "label", "clean_pred",
                                                   "broken_eps", "adv_pred", "perturbation_norm"])
    return summary, examples


def environment() -> dict:
    import keras

    import robustkit

    return {
        "robustkit": robustkit.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_benchmark(
    suite: BenchmarkSuite,
    out_dir: str | Path,
    progress: ProgressFn | None = None,
    fresh: bool = False,
) -> BenchmarkRun:
    """Run a benchmark suite, resuming completed cells found under ``out_dir/cells``.

    Args:
        suite: what to run (see :mod:`robustkit.suite`).
        out_dir: the report folder; cells are kept in ``out_dir/cells``.
        progress: called as ``progress(done, total, description)`` after each cell.
        fresh: ignore saved cells and recompute everything.
    """
    out_dir = Path(out_dir)
    started = time.perf_counter()
    data = load_data(suite.data).take(suite.limit)
    x, y = data.x_test.astype(np.float32, copy=False), data.y_test
    data_hash = data.fingerprint()
    total = len(suite.models) * sum(len(t.attacks) * len(t.eps) for t in suite.threats)
    done = 0
    computed = reused = 0
    results: dict[str, Any] = {
        "format": "robustkit-results/1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "suite": suite.config(),
        "data": {
            "name": data.name,
            "fingerprint": data_hash,
            "n": int(len(y)),
            "num_classes": int(data.num_classes),
            "bounds": list(data.bounds),
            "info": data.info,
            "labels": y.astype(int).tolist(),
        },
        "models": {},
        "examples": {},
        "samples": [],
        "checks": [],
    }
    for spec_string in suite.models:
        label = model_label(spec_string)
        model = load_model(spec_string, seed=suite.seed)
        model_hash = fingerprint(model)
        _check_model_fits(model, x, y, label)
        clean_pred = predict_labels(model, x, suite.batch_size)
        correct = clean_pred == y
        results["models"][label] = {"spec": spec_string, "fingerprint": model_hash, "clean_accuracy": float(correct.mean())}
        per_model: dict[str, Any] = {"clean_pred": clean_pred.astype(int).tolist(), "threats": {}}
        for threat in suite.threats:
            bounds = threat.bounds or tuple(data.bounds)
            _validate_data(data, bounds)
            per_model["threats"][threat.name] = {}
            for spec in threat.attacks:
                key = _digest({"model": model_hash, "data": data_hash, "threat": threat.config(), "attack": spec.config(),
                               "seed": suite.seed, "batch_size": suite.batch_size, "bounds": bounds})
                cell_dir = out_dir / "cells" / label / threat.name / f"{spec.name}-{key}"
                if fresh and cell_dir.exists():
                    for old in cell_dir.glob("*.npz"):
                        old.unlink()

                def tick(_, label=label, threat=threat, spec=spec):
                    nonlocal done
                    done += 1
                    if progress:
                        progress(done, total, f"{label} {threat.name} {spec.name}")

                cells, c, r = sweep(model, x, y, correct, spec, threat, bounds, suite.seed, suite.batch_size, cell_dir, label, tick)
                computed += c
                reused += r
                per_model["threats"][threat.name][spec.name] = _attack_record(cells, threat, len(y), clean_pred)
                for eps, cell in cells.items():
                    for index, x_adv in zip(cell.sample_indices, cell.sample_x_adv):
                        results["samples"].append({"model": label, "threat": threat.name, "attack": spec.name, "eps": eps,
                                                   "index": int(index), "label": int(y[index]),
                                                   "adv_pred": _adv_pred_of(cell, index),
                                                   "x": np.round(x[index], 5).tolist(), "x_adv": np.round(x_adv, 5).tolist()})
        results["examples"][label] = per_model
        if suite.checks and suite.threats:
            threat = suite.threats[0]
            checks = run_checks(model, x, y, correct, threat, per_model["threats"][threat.name],
                                threat.bounds or tuple(data.bounds), int(data.num_classes), suite.seed, label)
            results.setdefault("checks", []).extend(c.to_dict() for c in checks)
    results["samples"] = _select_samples(results["samples"], suite.threats)
    summary, examples = summarize(results)
    results["summary"] = json.loads(summary.to_json(orient="records"))
    results["run"] = {"seconds": time.perf_counter() - started, "cells_computed": computed, "cells_reused": reused}
    return BenchmarkRun(summary, examples, results, computed, reused, out_dir)


def _adv_pred_of(cell: Cell, index: int) -> int:
    return int(cell.adv_pred[np.flatnonzero(cell.indices == index)[0]])


def _attack_record(cells: dict[float, Cell], threat: ThreatModel, n: int, clean_pred: np.ndarray) -> dict:
    broken_eps: list[float | None] = [None] * n
    adv_pred = clean_pred.astype(int).tolist()
    norms: list[float | None] = [None] * n
    evals_total = np.zeros(n, int)
    for eps in threat.eps:
        cell = cells[eps]
        evals_total[cell.indices] += cell.grad_evals.astype(int)
        for i, index in enumerate(cell.indices):
            if cell.success[i]:
                broken_eps[index] = float(eps)
                adv_pred[index] = int(cell.adv_pred[i])
                norms[index] = float(cell.norms[i])
    return {
        "broken_eps": broken_eps,
        "adv_pred": adv_pred,
        "norm": norms,
        "grad_evals": evals_total.tolist(),
        "cell_grad_evals": [int(cells[e].grad_evals.sum()) for e in threat.eps],
        "cell_seconds": [float(cells[e].seconds) for e in threat.eps],
        "cell_attacked": [int(len(cells[e].indices)) for e in threat.eps],
    }


def _select_samples(samples: list[dict], threats: list[ThreatModel], per_model: int = 4) -> list[dict]:
    """A few samples per model: first threat model, mid-grid eps, strongest (last) attack first."""
    order = {t.name: i for i, t in enumerate(threats)}
    middle = {t.name: float(np.median(t.eps)) for t in threats}
    attack_rank = {(t.name, a.name): -i for t in threats for i, a in enumerate(t.attacks)}

    def rank(s):
        return (order[s["threat"]], abs(s["eps"] - middle[s["threat"]]), attack_rank[(s["threat"], s["attack"])], s["index"])

    chosen: list[dict] = []
    for model in dict.fromkeys(s["model"] for s in samples):
        seen: set[int] = set()
        for sample in sorted((s for s in samples if s["model"] == model), key=rank):
            if sample["index"] not in seen and len(seen) < per_model:
                seen.add(sample["index"])
                chosen.append(sample)
    return chosen

"""Work-efficient epsilon sweep against independent fixed-work runs.

Run: ``python benchmarks/perf/sweep_speed.py [--rounds N]``.

L-inf PGD-20 (step eps/8, no random start) on the zoo's ``digits-cnn`` over the 360-image test
split, eps in {0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2}. The runner's sweep (clean
prediction, survivors only, early stopping, cells saved to disk) is timed against the same
8 runs done independently with fixed work, in one process, rounds interleaved. It prints the
median times, their ratio, the gradient evaluations of each, and robust accuracy per eps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from robustkit.attacks import PGD  # noqa: E402
from robustkit.bench import predict_labels, sweep  # noqa: E402
from robustkit.data import load_digits_split  # noqa: E402
from robustkit.suite import AttackSpec, ThreatModel  # noqa: E402
from robustkit.zoo import load_zoo_model  # noqa: E402

EPS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)
STEPS = 20


def run_sweep(model, x, y):
    spec = AttackSpec("pgd-20", "pgd", "linf", steps=STEPS, rel_step_size=1 / 8, random_start=False)
    threat = ThreatModel("linf", "linf", EPS, (spec,))
    with tempfile.TemporaryDirectory() as cells:
        correct = predict_labels(model, x, 512) == y
        found, _, _ = sweep(model, x, y, correct, spec, threat, (0.0, 1.0), 0, 512, Path(cells), "digits-cnn")
    broken = np.zeros(len(y), bool)
    accuracy, evals = [], 0
    for eps in EPS:
        cell = found[eps]
        broken[cell.indices[cell.success.astype(bool)]] = True
        accuracy.append(float(np.mean(correct & ~broken)))
        evals += int(cell.grad_evals.sum())
    return accuracy, evals


def run_independent(model, x, y):
    accuracy, evals = [], 0
    for eps in EPS:
        result = PGD(eps=eps, steps=STEPS, step_size=eps / 8, random_start=False, batch_size=512).run(model, x, y)
        accuracy.append(result.robust_accuracy)
        evals += result.total_grad_evals
    return accuracy, evals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    data = load_digits_split()
    model = load_zoo_model("digits-cnn")
    x, y = data.x_test, data.y_test
    runners = {"sweep": run_sweep, "independent": run_independent}
    outputs = {name: run(model, x, y) for name, run in runners.items()}  # warm-up: trace once
    times = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            outputs[name] = run(model, x, y)
            times[name].append(time.perf_counter() - start)
    sweep_time, independent_time = (statistics.median(times[n]) for n in ("sweep", "independent"))
    print(f"L-inf PGD-{STEPS} (step eps/8, no random start) on digits-cnn, {len(y)} test images, {len(EPS)} eps values")
    print(f"{'':<12} {'median s':>9} {'grad evals':>11}")
    for name in runners:
        print(f"{name:<12} {statistics.median(times[name]):>9.3f} {outputs[name][1]:>11}")
    # Each round times both back to back, so the per-round ratio cancels slow drifts of a shared
    # machine; its median is the figure to quote.
    paired = statistics.median(a / b for a, b in zip(times["sweep"], times["independent"]))
    print(f"ratio sweep / independent: time {paired:.3f}x (ratio of medians {sweep_time / independent_time:.3f}x), "
          f"gradient evaluations {outputs['sweep'][1] / outputs['independent'][1]:.3f}x")
    print(f"{'eps':>6} {'sweep':>8} {'independent':>12}")
    for eps, a, b in zip(EPS, outputs["sweep"][0], outputs["independent"][0]):
        flag = "" if a <= b + 1e-12 else "  <- higher!"
        print(f"{eps:>6g} {a:>8.4f} {b:>12.4f}{flag}")


if __name__ == "__main__":
    main()

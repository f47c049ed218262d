"""Work-efficient epsilon sweep against independent fixed-work runs.

Run: ``python benchmarks/perf/sweep_speed.py [--rounds N]``.

L-inf PGD-20 (step eps/8, no random start) on the zoo's ``digits-cnn`` over the 360-image test
split, eps in {0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2}. The runner's sweep (clean
prediction, survivors only, early stopping, cells saved to disk) is timed against the same
8 runs done independently with fixed work, in one process, rounds interleaved. It prints the
median times, their ratio, the gradient evaluations of each, and robust accuracy per eps.

It also times a floor: the sweep's own gradient evaluations as bare compiled forward+backward
passes, step by step at the batch sizes the sweep had (no attack or bookkeeping around them).
On a CPU a small batch costs more per example than a large one, so this floor sits above the
ratio of gradient evaluations; the sweep cannot go below it.
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
import tensorflow as tf  # noqa: E402

from robustkit.attacks import PGD  # noqa: E402
from robustkit.evaluation.context import predict_labels  # noqa: E402
from robustkit.evaluation.suites import AttackSpec, AttackSuite  # noqa: E402
from robustkit.evaluation.sweep import SweepJob, sweep  # noqa: E402
from robustkit.sources.data import load_digits_split  # noqa: E402
from robustkit.sources.zoo import load_zoo_model  # noqa: E402

EPS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)
STEPS = 20


def run_sweep(model, x, y):
    spec = AttackSpec("pgd-20", "pgd", "linf", steps=STEPS, rel_step_size=1 / 8, random_start=False)
    suite = AttackSuite("linf", "linf", EPS, (spec,))
    with tempfile.TemporaryDirectory() as cells:
        correct = predict_labels(model, x, 512) == y
        job = SweepJob(model, "digits-cnn", suite, spec, (0.0, 1.0), 0, 512, Path(cells))
        found, _, _ = sweep(job, x, y, correct)
    broken = np.zeros(len(y), bool)
    accuracy, evals, passes = [], 0, []
    for eps in EPS:
        cell = found[eps]
        broken[cell.indices[cell.success.astype(bool)]] = True
        accuracy.append(float(np.mean(correct & ~broken)))
        evals += int(cell.grad_evals.sum())
        # Batch size of each gradient pass in this cell: the examples with at least s evaluations.
        passes.append([int(np.sum(cell.grad_evals >= s)) for s in range(1, int(cell.grad_evals.max(initial=0)) + 1)])
    return accuracy, evals, passes


def floor_runner(model, passes):
    """The sweep's gradient passes alone: per cell, one compiled loop of forward+backward passes."""

    @tf.function
    def cell(x, y, sizes):
        def step(i, xa):
            n = sizes[i]
            xa = xa[:n]
            with tf.GradientTape() as tape:
                tape.watch(xa)
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y[:n], model(xa, training=False)))
            return i + 1, tf.clip_by_value(xa + 1e-3 * tf.sign(tape.gradient(loss, xa)), 0.0, 1.0)

        invariants = (tf.TensorShape([]), tf.TensorShape([None] + x.shape[1:]))
        return tf.while_loop(lambda i, xa: i < tf.size(sizes), step, (0, x), shape_invariants=invariants)[1]

    sizes = [tf.constant(cell_sizes, tf.int32) for cell_sizes in passes if cell_sizes]
    evals = sum(map(sum, passes))

    def run(_model, x, y):  # the runners' signature; the model is already bound
        x, y = tf.constant(x), tf.constant(y, tf.int32)
        for cell_sizes in sizes:
            cell(x, y, cell_sizes).numpy()
        return None, evals

    return run


def run_independent(model, x, y):
    accuracy, evals = [], 0
    for eps in EPS:
        result = PGD(eps=eps, steps=STEPS, step_size=eps / 8, random_start=False, batch_size=512).run(model, x, y)
        accuracy.append(result.robust_accuracy)
        evals += result.total_grad_evals
    return accuracy, evals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    data = load_digits_split()
    model = load_zoo_model("digits-cnn")
    x, y = data.x_test, data.y_test
    runners = {"sweep": run_sweep, "independent": run_independent}
    outputs = {name: run(model, x, y) for name, run in runners.items()}  # warm-up: trace once
    runners["floor"] = floor_runner(model, outputs["sweep"][2])
    outputs["floor"] = runners["floor"](model, x, y)
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
    print(
        f"ratio sweep / independent: time {paired:.3f}x (ratio of medians {sweep_time / independent_time:.3f}x), "
        f"gradient evaluations {outputs['sweep'][1] / outputs['independent'][1]:.3f}x"
    )
    floor = statistics.median(a / b for a, b in zip(times["floor"], times["independent"]))
    print(f"floor / independent: time {floor:.3f}x (the sweep's gradient passes alone, at its own batch sizes)")
    print(f"{'eps':>6} {'sweep':>8} {'independent':>12}")
    for eps, a, b in zip(EPS, outputs["sweep"][0], outputs["independent"][0]):
        flag = "" if a <= b + 1e-12 else "  <- higher!"
        print(f"{eps:>6g} {a:>8.4f} {b:>12.4f}{flag}")


if __name__ == "__main__":
    main()

"""Speed of the Square attack with Q queries relative to the limit: Q compiled forward passes.

Run: ``python benchmarks/perf/square_speed.py [--queries Q] [--rounds N]``.

The CNN shapes of ``pgd_speed.py`` (28x28x1 at batch 256, 32x32x3 at batch 128), fixed work (no
early stopping), labels = the model's own clean predictions, rounds interleaved in one process;
the figure is the median of the per-round ratios to the limit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from pgd_speed import cnn  # noqa: E402  (the PGD benchmark's CNN)

from robustkit.attacks import Square  # noqa: E402

EPS = 0.05


def bench(shape, batch, queries, rounds):
    model = cnn(shape)
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (batch,) + shape).astype("float32"))
    y = tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32)
    forward = tf.function(lambda x: model(x, training=False))

    def limit(x, y):
        out = None
        for _ in range(queries):
            out = forward(x)
        return out.numpy()

    square = Square(eps=EPS, queries=queries, seed=0)
    runs = {"limit": limit, "square": lambda x, y: square(model, x, y).numpy()}
    for run in runs.values():  # warm-up: trace and compile everything once
        run(x, y)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run(x, y)
            times[name].append(time.perf_counter() - start)
    return [
        (name, statistics.median(t), statistics.median(a / b for a, b in zip(t, times["limit"])))
        for name, t in times.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"L-inf Square, {args.queries} queries, eps={EPS}, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"{'model':<12} {'batch':>5}  {'implementation':<12} {'median s':>9} {'x limit':>8}")
    for shape, batch in (((28, 28, 1), 256), ((32, 32, 3), 128)):
        label = "x".join(map(str, shape))
        for name, median, ratio in bench(shape, batch, args.queries, args.rounds):
            print(f"{label:<12} {batch:>5}  {name:<12} {median:>9.4f} {ratio:>7.3f}x")


if __name__ == "__main__":
    main()

"""Speed of APGD-CE with 100 iterations relative to the limit: 100 compiled forward+backward passes.

Run: ``python benchmarks/perf/apgd_speed.py [--rounds N]``.

The same two CNN shapes as ``pgd_speed.py`` (28x28x1 at batch 256, 32x32x3 at batch 128), fixed
work (no early stopping), labels = the model's own clean predictions, rounds interleaved in one
process; the figure is the median of the per-round ratios to the limit. ``apgd@0`` runs at eps
0, where nothing can be broken and every example also pays the forward pass that scores its
last iterate.
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
from pgd_speed import cnn, compiled_input_gradient  # noqa: E402  (the PGD benchmark's CNN and limit)

from robustkit.attacks import APGD  # noqa: E402

STEPS = 100
EPS = 0.1


def runners(model: keras.Model) -> dict:
    loss_gradient = compiled_input_gradient(model)

    def limit(x, y):
        g = None
        for _ in range(STEPS):
            g = loss_gradient(x, y)
        return g.numpy()

    apgd, apgd_zero = APGD(eps=EPS, steps=STEPS, seed=0), APGD(eps=0.0, steps=STEPS, seed=0)
    return {
        "limit": limit,
        "apgd-ce": lambda x, y: apgd(model, x, y).numpy(),
        "apgd@0": lambda x, y: apgd_zero(model, x, y).numpy(),
    }


def bench(shape, batch, rounds):
    model = cnn(shape)
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (batch,) + shape).astype("float32"))
    y = tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32)
    runs = runners(model)
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
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"L-inf APGD-CE-{STEPS}, eps={EPS}, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"{'model':<12} {'batch':>5}  {'implementation':<12} {'median s':>9} {'x limit':>8}")
    for shape, batch in (((28, 28, 1), 256), ((32, 32, 3), 128)):
        label = "x".join(map(str, shape))
        for name, median, ratio in bench(shape, batch, args.rounds):
            print(f"{label:<12} {batch:>5}  {name:<12} {median:>9.4f} {ratio:>7.3f}x")


if __name__ == "__main__":
    main()

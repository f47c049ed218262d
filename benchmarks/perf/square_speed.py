"""Speed of the Square attack with Q queries relative to the limit: Q compiled forward passes.

Run: ``python benchmarks/perf/square_speed.py [--norm linf|l2] [--queries Q] [--rounds N]``.

The CNN shapes of ``pgd_speed.py`` (28x28x1 at batch 256, 32x32x3 at batch 128), fixed work (no
early stopping), labels = the model's own clean predictions, rounds interleaved in one process;
the figure is the median of the per-round ratios to the limit.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from interleave import interleaved, print_table  # noqa: E402
from pgd_speed import cnn  # noqa: E402  (the PGD benchmark's CNN)

from robustkit.attacks import Square  # noqa: E402

EPS = {"linf": 0.05, "l2": 1.0}


def bench(shape, batch, queries, rounds, norm="linf"):
    model = cnn(shape)
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (batch,) + shape).astype("float32"))
    y = tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32)
    forward = tf.function(lambda x: model(x, training=False))

    def limit(x, y):
        out = None
        for _ in range(queries):
            out = forward(x)
        return out.numpy()

    square = Square(eps=EPS[norm], norm=norm, queries=queries, seed=0)
    return interleaved({"limit": limit, "square": lambda x, y: square(model, x, y).numpy()}, (x, y), rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--norm", choices=sorted(EPS), default="linf")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    shapes = (((28, 28, 1), 256), ((32, 32, 3), 128))
    results = [("x".join(map(str, s)), b, bench(s, b, args.queries, args.rounds, args.norm)) for s, b in shapes]
    title = (
        f"{args.norm} Square, {args.queries} queries, eps={EPS[args.norm]}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}"
    )
    print_table(title, results)


if __name__ == "__main__":
    main()

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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from interleave import interleaved, print_table  # noqa: E402
from pgd_speed import cnn, limit_runner  # noqa: E402  (the PGD benchmark's CNN and limit)

from robustkit.attacks import APGD  # noqa: E402

STEPS = 100
EPS = 0.1


def runners(model: keras.Model) -> dict:
    apgd, apgd_zero = APGD(eps=EPS, steps=STEPS, seed=0), APGD(eps=0.0, steps=STEPS, seed=0)
    return {
        "limit": limit_runner(model, STEPS),
        "apgd-ce": lambda x, y: apgd(model, x, y).numpy(),
        "apgd@0": lambda x, y: apgd_zero(model, x, y).numpy(),
    }


def bench(shape, batch, rounds):
    model = cnn(shape)
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (batch,) + shape).astype("float32"))
    y = tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32)
    return interleaved(runners(model), (x, y), rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results = [
        ("x".join(map(str, s)), b, bench(s, b, args.rounds)) for s, b in (((28, 28, 1), 256), ((32, 32, 3), 128))
    ]
    print_table(f"L-inf APGD-CE-{STEPS}, eps={EPS}, TensorFlow {tf.__version__}, Keras {keras.__version__}", results)


if __name__ == "__main__":
    main()

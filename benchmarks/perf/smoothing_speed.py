"""Randomized smoothing against its limit: n noisy forward passes against n compiled forward passes.

Run: ``python benchmarks/perf/smoothing_speed.py [--n N] [--rounds R] [--models M ...]``.

robustkit's sampling (``robustkit.certify.sample_counts``: noise keyed by example and sample, drawn
on device, predictions counted on device, one compiled loop) is timed against the limit: a compiled
loop of the same number of forward passes of the model at the same batch size, on inputs that are
already in memory (no noise, no counting). Models: the zoo's digits CNN (8x8x1) and a 32x32x3 CNN,
on 4 examples. Rounds are interleaved in one process; the median of the per-round ratios is printed.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from interleave import interleaved, print_table  # noqa: E402
from pgd_speed import cnn  # noqa: E402

from robustkit.certify import sample_counts  # noqa: E402
from robustkit.sources.data import load_digits_split  # noqa: E402
from robustkit.sources.zoo import load_zoo_model  # noqa: E402

EXAMPLES = 4
BATCH = 1000


def limit_runner(model, n: int, batch: int):
    """``n`` forward passes per example at ``batch`` inputs per pass, in one compiled loop."""

    @tf.function(autograph=False)
    def passes(block):
        def body(i, total):
            logits = model(block, training=False)
            return i + 1, total + tf.reduce_sum(tf.cast(tf.argmax(logits, axis=-1), tf.int64))

        calls = EXAMPLES * n // batch
        return tf.while_loop(lambda i, _: i < calls, body, (tf.constant(0), tf.constant(0, tf.int64)))[1]

    def run(x):
        block = tf.constant(np.resize(x, (batch,) + x.shape[1:]))
        return passes(block).numpy()

    return run


def robustkit_runner(model, n: int, batch: int):
    def run(x):
        return sample_counts(model, x, 0.25, n, seed=0, batch_size=batch)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--models", nargs="+", choices=["digits-cnn", "cnn-32x32x3"], default=["digits-cnn", "cnn-32x32x3"]
    )
    args = parser.parse_args()
    digits = load_digits_split().x_test[:EXAMPLES].astype("float32")
    rng = np.random.default_rng(0)
    models = {
        "digits-cnn": lambda: (load_zoo_model("digits-cnn"), digits),
        "cnn-32x32x3": lambda: (cnn((32, 32, 3)), rng.uniform(size=(EXAMPLES, 32, 32, 3)).astype("float32")),
    }
    rows = []
    for label in args.models:
        model, x = models[label]()
        runs = {"limit": limit_runner(model, args.n, BATCH), "robustkit": robustkit_runner(model, args.n, BATCH)}
        rows.append((label, BATCH, interleaved(runs, (x,), args.rounds)))
    print_table(f"Randomized smoothing, n={args.n} samples per example, {EXAMPLES} examples, tf {tf.__version__}", rows)


if __name__ == "__main__":
    main()

"""Cost of one PGD-k adversarial-training epoch against its limit.

Run: ``python benchmarks/perf/train_speed.py [--rounds N]``.

The limit of a PGD-k training step is k + 1 compiled forward+backward passes per batch: k loss
gradients with respect to the input (the attack) and one training step (gradient with respect
to the weights and the optimizer update). One round times an epoch of
``AdversarialTrainer.fit`` (28x28x1 CNN, batch 128, 16 batches, PGD-7) and the limit run over the
same batches, in one process with the rounds interleaved, and reports the median of the
per-round ratios.
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

from pgd_speed import cnn  # noqa: E402  (the same 28x28x1 CNN as the PGD benchmark)
from robustkit.train import AdversarialTrainer  # noqa: E402

STEPS = 7
BATCH = 128
BATCHES = 16


def limit_runner(model: keras.Model, x: np.ndarray, y: np.ndarray):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)

    @tf.function
    def input_gradient(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = loss_fn(yb, model(xb, training=False))
        return tape.gradient(loss, xb)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    batches = [(tf.constant(x[i : i + BATCH]), tf.constant(y[i : i + BATCH])) for i in range(0, len(x), BATCH)]

    def run():
        loss = None
        for xb, yb in batches:
            for _ in range(STEPS):
                input_gradient(xb, yb)
            loss = train_step(xb, yb)
        return float(loss)

    return run


def robustkit_runner(model: keras.Model, x: np.ndarray, y: np.ndarray):
    trainer = AdversarialTrainer(model, method="pgd", eps=0.1, steps=STEPS)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    return lambda: trainer.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (BATCH * BATCHES, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, BATCH * BATCHES).astype("int32")
    runners = {"limit": limit_runner(cnn((28, 28, 1)), x, y), "robustkit": robustkit_runner(cnn((28, 28, 1)), x, y)}
    for run in runners.values():  # warm-up: trace and compile
        run()
    times = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    ratio = statistics.median(a / b for a, b in zip(times["robustkit"], times["limit"]))
    print(f"PGD-{STEPS} adversarial training, 28x28x1 CNN, batch {BATCH}, {BATCHES} batches, TensorFlow {tf.__version__}")
    print(f"limit ({STEPS} input-gradient passes + 1 training step per batch): median {statistics.median(times['limit']):.3f} s per epoch")
    print(f"robustkit AdversarialTrainer.fit, one epoch:                median {statistics.median(times['robustkit']):.3f} s per epoch")
    print(f"ratio: {ratio:.3f}x")


if __name__ == "__main__":
    main()

"""Cost of one PGD-k adversarial-training epoch against its limit.

Run: ``python benchmarks/perf/train_speed.py [--rounds N]``.

The limit of a PGD-k training step is k + 1 compiled forward+backward passes per batch: k loss
gradients with respect to the input (the attack) and one training step (gradient with respect
to the weights and the optimizer update). One round times an epoch of
``AdversarialTrainer.fit`` (28x28x1 CNN, batch 128, 16 batches, PGD-7) and the limit run over the
same batches, in one process with the rounds interleaved, and reports the median of the
per-round ratios.

The epoch is timed from Keras's ``on_epoch_begin`` to ``on_epoch_end``. The wall time of the
whole ``fit`` call is printed too: on this TensorFlow build, tearing down ``fit``'s data
iterator sometimes stalls for seconds (the call then ends at a fixed ~10.3 s here whatever the
epoch took), with or without robustkit's step, which is not work of the training epoch.
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

from robustkit.training.adversarial import AdversarialTrainer  # noqa: E402

STEPS = 7
BATCH = 128
BATCHES = 16


def limit_runner(model: keras.Model, x: np.ndarray, y: np.ndarray):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)

    input_gradient = compiled_input_gradient(model)

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


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def robustkit_runner(model: keras.Model, x: np.ndarray, y: np.ndarray, fit_seconds: list):
    trainer = AdversarialTrainer(model, method="pgd", eps=0.1, steps=STEPS)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    timer = EpochTimer()

    def run():
        start = time.perf_counter()
        trainer.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0, callbacks=[timer])
        fit_seconds.append(time.perf_counter() - start)
        return timer.seconds

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (BATCH * BATCHES, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, BATCH * BATCHES).astype("int32")
    fit_seconds: list[float] = []
    runners = {
        "limit": limit_runner(cnn((28, 28, 1)), x, y),
        "robustkit": robustkit_runner(cnn((28, 28, 1)), x, y, fit_seconds),
    }
    for run in runners.values():  # warm-up: trace and compile
        run()
    fit_seconds.clear()
    times = {name: [] for name in runners}
    for _ in range(args.rounds):
        start = time.perf_counter()
        runners["limit"]()
        times["limit"].append(time.perf_counter() - start)
        times["robustkit"].append(runners["robustkit"]())
    ratio = statistics.median(a / b for a, b in zip(times["robustkit"], times["limit"]))
    print(
        f"PGD-{STEPS} adversarial training, 28x28x1 CNN, batch {BATCH}, {BATCHES} batches, TensorFlow {tf.__version__}"
    )
    print(
        f"limit ({STEPS} input-gradient passes + 1 training step per batch): "
        f"median {statistics.median(times['limit']):.3f} s per epoch"
    )
    print(
        f"robustkit AdversarialTrainer.fit, one epoch:                "
        f"median {statistics.median(times['robustkit']):.3f} s per epoch"
    )
    print(f"  (whole fit calls, set-up and tear-down included: {', '.join(f'{t:.2f}' for t in fit_seconds)} s)")
    print(f"ratio: {ratio:.3f}x")


if __name__ == "__main__":
    main()

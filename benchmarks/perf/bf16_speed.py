"""Does bfloat16 make an attack faster at equal robust accuracy? PGD-10 on a float32 model and on its
``mixed_bfloat16`` twin (same weights), timed in one process with the rounds interleaved.

Run: ``python benchmarks/perf/bf16_speed.py [--rounds N]``.

The model is the 32x32x3 CNN of ``pgd_speed.py`` (``--model resnet20``: its CIFAR ResNet-20),
trained for a few epochs on the digits upsampled to 32x32x3 so that robust accuracy means
something. The twin is the same architecture built under the ``mixed_bfloat16`` policy with the
float32 weights copied in: its layers compute in bfloat16 (this CPU has AVX512_BF16), and
robustkit still computes losses and steps in float32. It prints both medians, their ratio, and
both clean and robust accuracies at L-inf eps 0.02 and 0.05.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from interleave import interleaved  # noqa: E402
from pgd_speed import cnn, resnet20  # noqa: E402

from robustkit.attacks import PGD  # noqa: E402
from robustkit.sources.data import load_digits_split  # noqa: E402


def upsampled(x: np.ndarray) -> np.ndarray:
    """8x8x1 digits as 32x32x3 images in [0, 1]."""
    big = tf.image.resize(x, (32, 32), method="bilinear").numpy()
    return np.clip(np.repeat(big, 3, axis=-1), 0, 1).astype(np.float32)


ARCHITECTURES = {"cnn": lambda: cnn((32, 32, 3)), "resnet20": resnet20}


def twins(architecture: str, epochs: int) -> tuple[keras.Model, keras.Model, np.ndarray, np.ndarray]:
    digits = load_digits_split()
    x_train, x_test = upsampled(digits.x_train), upsampled(digits.x_test)
    build = ARCHITECTURES[architecture]
    model = build()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train, digits.y_train, epochs=epochs, batch_size=64, verbose=0)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        twin = build()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    twin.set_weights(model.get_weights())
    return model, twin, x_test, digits.y_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--model", choices=list(ARCHITECTURES), default="cnn")
    args = parser.parse_args()
    model, twin, x, y = twins(args.model, args.epochs)
    x, y = tf.constant(x), tf.constant(y)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; {args.model}, 360 images")
    for eps in (0.02, 0.05):

        def attack(m, eps=eps):
            return PGD(eps=eps, steps=10, step_size=2.5 * eps / 10, seed=0, batch_size=128).run(m, x, y)

        rows = interleaved(
            {"float32": lambda: attack(model), "bfloat16": lambda: attack(twin)}, (), args.rounds, "float32"
        )
        results = {name: attack(m) for name, m in (("float32", model), ("bfloat16", twin))}
        accuracy = {name: r.robust_accuracy for name, r in results.items()}
        clean = {name: r.clean_accuracy for name, r in results.items()}
        for name, median, ratio in rows:
            share = f"clean {clean[name]:.1%}, robust accuracy {accuracy[name]:.1%}"
            print(f"eps={eps:<5} {name:<9} median {median:7.3f} s  {ratio:6.3f}x of float32  {share}")


if __name__ == "__main__":
    main()

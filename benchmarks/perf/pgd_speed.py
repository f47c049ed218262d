"""Speed of L-inf PGD-10 relative to the limit: 10 compiled forward+backward passes.

Run: ``python benchmarks/perf/pgd_speed.py [--rounds N]``.

For two small CNNs (28x28x1 at batch 256, 32x32x3 at batch 128) and two realistic architectures
(a CIFAR ResNet-20 at 32x32x3, batch 128, and Keras's MobileNetV3Small at 96x96x3, batch 32),
each round times the limit
(a compiled ``tf.function`` returning the loss gradient, called 10 times) and then every attack
implementation, in one process with the rounds interleaved, and reports medians and the ratio
to the limit. The labels are the model's own clean predictions. ``robustkit@0`` is the same
attack at eps 0, where no example can be broken: robustkit's worst case, in which every example
also takes the forward pass that scores the last iterate. When cleverhans, foolbox or
adversarial-robustness-toolbox are installed (``pip install -e ".[compare]"``) their PGD-10 rows are printed too.
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

from robustkit.attacks import PGD  # noqa: E402

STEPS = 10
EPS = 0.1


def cnn(shape: tuple[int, int, int]) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def resnet20(shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10) -> keras.Model:
    """He et al.'s CIFAR ResNet-20: three stages of three basic blocks (16, 32, 64 filters), batch norm."""
    keras.utils.set_random_seed(0)
    layers = keras.layers

    def conv_bn(x, filters, stride=1, relu=True):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x) if relu else x

    inputs = keras.Input(shape)
    x = conv_bn(inputs, 16)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            y = conv_bn(x, filters, stride)
            y = conv_bn(y, filters, relu=False)
            if stride != 1:
                shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
                shortcut = layers.BatchNormalization()(shortcut)
            x = layers.ReLU()(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes)(x), name="resnet20")


def mobilenet_v3_small(shape: tuple[int, int, int] = (96, 96, 3)) -> keras.Model:
    """Keras's MobileNetV3Small, random weights, logits out; inputs in [0, 1] scaled to its [0, 255] inside."""
    from robustkit.sources.applications import load_application

    keras.utils.set_random_seed(0)
    application = load_application("MobileNetV3Small", weights=None, size=shape[:2], classes=10)
    inputs = keras.Input(shape)
    return keras.Model(inputs, application(keras.layers.Rescaling(255.0)(inputs)), name="mobilenetv3small")


MODELS = {
    "cnn-28x28x1": (lambda: cnn((28, 28, 1)), (28, 28, 1), 256),
    "cnn-32x32x3": (lambda: cnn((32, 32, 3)), (32, 32, 3), 128),
    "resnet20-32x32x3": (resnet20, (32, 32, 3), 128),
    "mobilenetv3s-96": (mobilenet_v3_small, (96, 96, 3), 32),
}


def compiled_input_gradient(model: keras.Model):
    """The limit's unit: one compiled forward+backward pass returning d loss / d input."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")

    @tf.function
    def loss_gradient(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(y, model(x, training=False))
        return tape.gradient(loss, x)

    return loss_gradient


def limit_runner(model: keras.Model, steps: int = STEPS):
    """The limit of a ``steps``-step gradient attack: that many compiled forward+backward passes."""
    loss_gradient = compiled_input_gradient(model)

    def run(x, y):
        g = None
        for _ in range(steps):
            g = loss_gradient(x, y)
        return g.numpy()

    return run


def robustkit_runner(model: keras.Model, eps: float = EPS):
    attack = PGD(eps=eps, steps=STEPS, step_size=2.5 * EPS / STEPS, random_start=True, seed=0)
    return lambda x, y: attack(model, x, y).numpy()


def cleverhans_runner(model: keras.Model):
    from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

    def run(x, y):
        return projected_gradient_descent(
            model,
            x,
            EPS,
            2.5 * EPS / STEPS,
            STEPS,
            np.inf,
            clip_min=0.0,
            clip_max=1.0,
            y=y,
            rand_init=True,
            sanity_checks=False,
        ).numpy()

    return run


def foolbox_runner(model: keras.Model):
    import foolbox

    fmodel = foolbox.TensorFlowModel(model, bounds=(0.0, 1.0))
    attack = foolbox.attacks.LinfPGD(abs_stepsize=2.5 * EPS / STEPS, steps=STEPS, random_start=True)

    def run(x, y):
        _, clipped, _ = attack(fmodel, x, tf.cast(y, tf.int64), epsilons=EPS)
        return clipped.numpy()

    return run


def art_runner(model: keras.Model, shape):
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    classifier = TensorFlowV2Classifier(
        model,
        nb_classes=10,
        input_shape=shape,
        clip_values=(0.0, 1.0),
        loss_object=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    attack = ProjectedGradientDescent(
        classifier,
        norm=np.inf,
        eps=EPS,
        eps_step=2.5 * EPS / STEPS,
        max_iter=STEPS,
        num_random_init=1,
        batch_size=10_000,
        verbose=False,
    )
    return lambda x, y: attack.generate(x.numpy(), y=y.numpy())


def optional_runners(model, shape):
    runners = {}
    for name, make in (
        ("cleverhans", lambda: cleverhans_runner(model)),
        ("foolbox", lambda: foolbox_runner(model)),
        ("art", lambda: art_runner(model, shape)),
    ):
        try:
            runners[name] = make()
        except ImportError:
            pass
    return runners


def bench(make, shape, batch, rounds):
    model = make()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, (batch,) + shape).astype("float32"))
    # Attack the model's own predictions, so that every example starts correctly classified.
    y = tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32)
    runners = {
        "limit": limit_runner(model),
        "robustkit": robustkit_runner(model),
        # At eps 0 nothing can be broken, so every example also takes the forward pass that
        # scores the last iterate: robustkit's worst case for the same work.
        "robustkit@0": robustkit_runner(model, eps=0.0),
    }
    runners.update(optional_runners(model, shape))
    times = {name: [] for name in runners}
    for run in runners.values():  # warm-up: trace and compile everything once
        run(x, y)
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run(x, y)
            times[name].append(time.perf_counter() - start)
    # Each round times every implementation back to back: the per-round ratio to the limit
    # cancels slow drifts of a shared machine, and its median is the figure to quote.
    rows = []
    for name, samples in times.items():
        ratio = statistics.median(s / b for s, b in zip(samples, times["limit"]))
        rows.append((name, statistics.median(samples), ratio))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args()
    print(
        f"L-inf PGD-{STEPS}, eps={EPS}, TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs"
    )
    print(f"{'model':<18} {'batch':>5}  {'implementation':<12} {'median s':>9} {'x limit':>8}")
    for label in args.models:
        make, shape, batch = MODELS[label]
        for name, median, ratio in bench(make, shape, batch, args.rounds):
            print(f"{label:<18} {batch:>5}  {name:<12} {median:>9.4f} {ratio:>7.3f}x", flush=True)


if __name__ == "__main__":
    main()

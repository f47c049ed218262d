"""Run in a fresh process by tests/test_distribute.py: two logical CPU devices must be declared before
TensorFlow starts, which the test process has long done. Prints one JSON line of findings."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main() -> None:
    # Before anything starts TensorFlow's runtime (importing robustkit may): two logical CPU devices.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np

    from robustkit.attacks import APGD, PGD, Square
    from robustkit.evaluation.results_columns import example_columns
    from robustkit.evaluation.runner import run_benchmark
    from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
    from robustkit.sources.data import load_digits_split
    from robustkit.sources.zoo import load_zoo_model
    from robustkit.training.adversarial import AdversarialTrainer

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    digits = load_digits_split()
    with strategy.scope():
        model = load_zoo_model("digits-cnn")
    x, y = digits.x_test[:150], digits.y_test[:150]  # 3 batches of 50: one pair on the replicas, one alone
    findings: dict = {"replicas": strategy.num_replicas_in_sync}
    attacks = {
        "pgd": PGD(eps=0.1, steps=10, restarts=2, batch_size=50, seed=3),
        "apgd": APGD(eps=0.1, steps=20, batch_size=50, seed=3),
        "square": Square(eps=0.1, queries=40, batch_size=50, seed=3),
    }
    for name, attack in attacks.items():
        one = attack.run(model, x, y)
        two = attack.run(model, x, y, strategy=strategy)
        findings[name] = all(
            np.array_equal(np.asarray(getattr(one, field)), np.asarray(getattr(two, field)))
            for field in ("x_adv", "success", "adv_pred", "grad_evals", "norms")
        )
        findings[f"{name}_broken"] = int(np.sum(one.success & (one.clean_pred == y)))
    findings["call"] = np.array_equal(
        attacks["pgd"](model, x, y).numpy(), attacks["pgd"](model, x, y, strategy=strategy).numpy()
    )
    linf = AttackSuite(
        "linf",
        "linf",
        (0.05, 0.1),
        (AttackSpec("fgsm", "fgsm", "linf"), AttackSpec("pgd", "pgd", "linf", steps=10, random_start=True)),
    )
    suite = BenchmarkSuite("mirrored", "digits", ["digits-cnn"], [linf], batch_size=60, checks=False)
    with tempfile.TemporaryDirectory() as folder:
        one = run_benchmark(suite, Path(folder) / "one")
        two = run_benchmark(suite, Path(folder) / "two", strategy=strategy)
    a, b = example_columns(one.results), example_columns(two.results)
    findings["runner"] = one.summary.drop(columns="seconds").equals(two.summary.drop(columns="seconds")) and all(
        np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a
    )
    with strategy.scope():
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
        trainer = AdversarialTrainer(net, method="pgd", eps=0.1, steps=3)
        trainer.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    history = trainer.fit(digits.x_train, digits.y_train, epochs=2, batch_size=64, verbose=0)
    findings["training_losses"] = [float(v) for v in history.history["loss"]]
    print(json.dumps(findings))


if __name__ == "__main__":
    sys.exit(main())

"""Attack strength against other libraries on the zoo's digits CNN (needs the ``compare`` extra).

Run: ``pip install -e ".[compare]" && python benchmarks/perf/compare_strength.py``.

L-inf PGD with the same eps, steps (20) and step size (2.5 * eps / 20) in every library, once
without a random start (every library then follows the same iterates) and with a random start
averaged over ``--seeds`` seeds (5 by default, with the standard error over seeds); prints robust
accuracy (lower is a stronger attack) on the 360-image test split.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from robustkit.attacks import PGD  # noqa: E402
from robustkit.sources.data import load_digits_split  # noqa: E402
from robustkit.sources.zoo import load_zoo_model  # noqa: E402

STEPS = 20
EPS = (0.05, 0.1, 0.15)


def accuracy(model, x_adv, y) -> float:
    return float(np.mean(np.argmax(model.predict(np.asarray(x_adv), verbose=0), axis=1) == y))


def attacks(model, x, y, eps, step, random_start, seed):
    """Adversarial examples from each installed library, keyed by name."""
    yield "robustkit", PGD(eps=eps, steps=STEPS, step_size=step, random_start=random_start, seed=seed)(model, x, y)
    try:
        from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

        tf.random.set_seed(seed)
        yield (
            "cleverhans",
            projected_gradient_descent(
                model,
                tf.constant(x),
                eps,
                step,
                STEPS,
                np.inf,
                clip_min=0.0,
                clip_max=1.0,
                y=tf.constant(y),
                rand_init=random_start,
                sanity_checks=False,
            ),
        )
    except ImportError:
        pass
    try:
        import foolbox

        tf.random.set_seed(seed)
        fmodel = foolbox.TensorFlowModel(model, bounds=(0.0, 1.0))
        attack = foolbox.attacks.LinfPGD(abs_stepsize=step, steps=STEPS, random_start=random_start)
        yield "foolbox", attack(fmodel, tf.constant(x), tf.constant(y), epsilons=eps)[1]
    except ImportError:
        pass
    try:
        import keras
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import TensorFlowV2Classifier

        np.random.seed(seed)
        classifier = TensorFlowV2Classifier(
            model,
            nb_classes=10,
            input_shape=x.shape[1:],
            clip_values=(0.0, 1.0),
            loss_object=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        attack = ProjectedGradientDescent(
            classifier,
            norm=np.inf,
            eps=eps,
            eps_step=step,
            max_iter=STEPS,
            num_random_init=1 if random_start else 0,
            batch_size=512,
            verbose=False,
        )
        yield "art", attack.generate(x, y=y)
    except ImportError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="random-start seeds to average over")
    args = parser.parse_args()
    data = load_digits_split()
    model = load_zoo_model("digits-cnn")
    x, y = data.x_test, data.y_test
    for random_start, seeds in ((False, [0]), (True, list(range(args.seeds)))):
        rows: dict[str, list[str]] = {}
        for eps in EPS:
            values: dict[str, list[float]] = {}
            for seed in seeds:
                for name, x_adv in attacks(model, x, y, eps, 2.5 * eps / STEPS, random_start, seed):
                    values.setdefault(name, []).append(accuracy(model, x_adv, y))
            for name, accs in values.items():
                # With several seeds: the mean and its standard error over seeds.
                spread = f"±{np.std(accs, ddof=1) / np.sqrt(len(accs)):.4f}" if len(accs) > 1 else ""
                rows.setdefault(name, []).append(f"{np.mean(accs):.4f}{spread}")
        start = f"random start, mean of {len(seeds)} seeds" if random_start else "no random start"
        print(f"L-inf PGD-{STEPS}, step 2.5*eps/{STEPS}, {start}; digits-cnn, {len(y)} test images: robust accuracy")
        width = max(len(v) for vs in rows.values() for v in vs) + 2
        print(f"{'implementation':<14}" + "".join(f"{'eps=' + format(e, 'g'):>{width}}" for e in EPS))
        for name, accs in rows.items():
            print(f"{name:<14}" + "".join(f"{v:>{width}}" for v in accs))
        print()


if __name__ == "__main__":
    main()

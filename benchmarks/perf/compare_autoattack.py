"""robustkit's APGD and AutoAttack ensemble against ART's APGD (needs the ``compare`` extra).

Run: ``pip install -e ".[compare]" && python benchmarks/perf/compare_autoattack.py``.

On the zoo's digits CNNs (360 test images, bounds [0, 1]), L-inf:

* wall time of APGD-CE and APGD-DLR, 100 iterations each, one random start, fixed work (no early
  stopping), in robustkit and in ART's ``AutoProjectedGradientDescent`` with the same settings
  (ART's ``eps_step`` is 2 * eps, APGD's initial step), after one warm-up call each;
* robust accuracy (lower is stronger) of robustkit's PGD-20 (step eps / 8, random start), of
  PGD-100 (step 2.5 eps / 100, random start) against APGD-CE alone with the same 100 iterations, of
  ART's APGD-CE and APGD-DLR together (an example counts as broken when either breaks it), of
  robustkit's APGD-CE and APGD-DLR together, and of robustkit's standard ensemble (APGD-CE,
  APGD-T, FAB-T, Square), with its wall time.

ART's full ``AutoAttack`` with its default attack list runs for more than 20 minutes on this data
on a 2-core CPU, so it is not asked for here.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from robustkit.attacks import APGD, PGD, AutoAttack  # noqa: E402
from robustkit.sources.data import load_digits_split  # noqa: E402
from robustkit.sources.zoo import load_zoo_model  # noqa: E402

STEPS = 100


def robust(model, x_adv, y) -> np.ndarray:
    return np.argmax(model.predict(np.asarray(x_adv), verbose=0, batch_size=512), axis=1) == y


def timed(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def run_all(attacks, model, x, y):
    return [attack.run(model, x, y) for attack in attacks]


def art_both(model, x, y, eps):
    return [art_apgd(model, x, y, eps, loss) for loss in ("cross_entropy", "difference_logits_ratio")]


def art_apgd(model, x, y, eps, loss_type):
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    classifier = TensorFlowV2Classifier(
        model,
        nb_classes=10,
        input_shape=x.shape[1:],
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )
    attack = AutoProjectedGradientDescent(
        classifier,
        norm=np.inf,
        eps=eps,
        eps_step=2 * eps,
        max_iter=STEPS,
        nb_random_init=1,
        batch_size=len(x),
        loss_type=loss_type,
        verbose=False,
    )
    return attack.generate(x, y=y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["digits-cnn", "digits-cnn-pgd"])
    parser.add_argument("--eps", nargs="+", type=float, default=[0.1, 0.15])
    parser.add_argument("--no-art", action="store_true", help="robustkit only")
    args = parser.parse_args()
    data = load_digits_split()
    x, y = data.x_test, data.y_test
    print(
        "model | eps | clean | PGD-20 | PGD-100 | APGD-CE | ART APGD-CE+DLR | robustkit APGD-CE+DLR | "
        "standard ensemble (s) | APGD-CE+DLR seconds: robustkit / ART (ratio)"
    )
    for name in args.models:
        model = load_zoo_model(name)
        clean = robust(model, x, y)
        for eps in args.eps:
            ours = [APGD(eps=eps, steps=STEPS, loss=loss, seed=0) for loss in ("ce", "dlr")]
            for attack in ours:  # warm-up: tracing is not part of the measured time
                attack.run(model, x[:8], y[:8])
            results, ours_s = timed(run_all, ours, model, x, y)
            ours_robust = clean & results[0].robust & results[1].robust
            pgd = PGD(eps=eps, steps=20, step_size=eps / 8, random_start=True, seed=0).run(model, x, y)
            pgd100 = PGD(eps=eps, steps=STEPS, random_start=True, seed=0).run(model, x, y)
            ensemble = AutoAttack(eps=eps, seed=0)
            standard, standard_s = timed(ensemble.run, model, x, y)
            art_text = time_text = "-"
            if not args.no_art:
                art_apgd(model, x[:8], y[:8], eps, "cross_entropy")  # warm-up
                advs, art_s = timed(art_both, model, x, y, eps)
                art_robust = clean & robust(model, advs[0], y) & robust(model, advs[1], y)
                art_text = f"{art_robust.mean():.1%}"
                time_text = f"{ours_s:.1f} / {art_s:.1f} ({ours_s / art_s:.3f}x)"
            print(
                f"{name} | {eps:g} | {clean.mean():.1%} | {pgd.robust_accuracy:.1%} | {pgd100.robust_accuracy:.1%} | "
                f"{results[0].robust_accuracy:.1%} | {art_text} | "
                f"{ours_robust.mean():.1%} | {standard.robust_accuracy:.1%} ({standard_s:.1f}) | {time_text}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""FMN on the zoo's digits CNN: its curve from one run against APGD at every eps, and against Foolbox's FMN.

Run: ``python benchmarks/perf/fmn_curve.py`` (Foolbox's rows need ``pip install -e ".[compare]"``).

1. ``robustkit bench fmn`` (fresh, into a temporary folder): per eps of the shipped L-inf and L2
   grids, FMN's robust accuracy (one run of 100 steps answers every eps) and the worst case of
   APGD-CE and APGD-T (100 steps each, run at every eps), their difference in points, and the
   gradient evaluations each spent over the whole grid.
2. FMN, 100 steps, in robustkit and in Foolbox 3 (``LInfFMNAttack``, ``L2FMNAttack``,
   ``L1FMNAttack``, their defaults otherwise), on the same 360 test images: the median smallest
   adversarial norm over the correctly classified ones (``inf`` where none was found), the share
   found, and the wall time.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from robustkit.attacks import FMN  # noqa: E402
from robustkit.evaluation import load_benchmark_suite, run_benchmark  # noqa: E402
from robustkit.evaluation.results import broken_at  # noqa: E402
from robustkit.sources import load_digits_split, load_zoo_model  # noqa: E402

STEPS = 100


def robust(broken: np.ndarray, correct: np.ndarray, eps: float) -> float:
    return float(np.mean(correct & ~(broken <= eps)))


def curves() -> None:
    with tempfile.TemporaryDirectory() as folder:
        run = run_benchmark(load_benchmark_suite("fmn"), Path(folder), fresh=True)
    results = run.results
    labels = np.asarray(results["data"]["labels"])
    examples = results["examples"]["digits-cnn"]
    correct = np.asarray(examples["clean_pred"]) == labels
    print("| threat | eps | FMN (one run) | APGD-CE + APGD-T (each eps) | FMN - APGD, points |")
    print("|---|---|---|---|---|")
    work = []
    for suite in results["suite"]["attack_suites"]:
        records = examples["attack_suites"][suite["name"]]
        fmn = broken_at(records["fmn"]["broken_eps"])
        apgd = np.fmin(broken_at(records["apgd-ce"]["broken_eps"]), broken_at(records["apgd-t"]["broken_eps"]))
        for eps in suite["eps"]:
            a, b = robust(fmn, correct, eps), robust(apgd, correct, eps)
            print(f"| {suite['norm']} | {eps:g} | {100 * a:.1f} | {100 * b:.1f} | {100 * (a - b):+.1f} |")
        evals = {name: int(np.sum(records[name]["grad_evals"])) for name in ("fmn", "apgd-ce", "apgd-t")}
        work.append((suite["norm"], evals))
    print("\n| threat | FMN gradient evaluations | APGD-CE + APGD-T gradient evaluations | ratio |")
    print("|---|---|---|---|")
    for norm, evals in work:
        apgd = evals["apgd-ce"] + evals["apgd-t"]
        print(f"| {norm} | {evals['fmn']} | {apgd} | {apgd / evals['fmn']:.1f}x |")


def against_foolbox() -> None:
    try:
        import foolbox as fb
        import tensorflow as tf
    except ImportError:
        print("\n(Foolbox is not installed: pip install -e '.[compare]' for the comparison with its FMN)")
        return
    model, data = load_zoo_model("digits-cnn"), load_digits_split()
    x, y = data.x_test, data.y_test
    correct = np.argmax(model.predict(x, verbose=0), axis=1) == y
    fmodel = fb.TensorFlowModel(model, bounds=(0, 1))
    theirs = {"linf": fb.attacks.LInfFMNAttack, "l2": fb.attacks.L2FMNAttack, "l1": fb.attacks.L1FMNAttack}
    print("\n| norm | library | median smallest norm | found | seconds |")
    print("|---|---|---|---|---|")
    for norm, attack in theirs.items():
        start = time.perf_counter()
        adv = attack(steps=STEPS)(fmodel, tf.constant(x), tf.constant(y.astype(np.int64)), epsilons=None)[0].numpy()
        seconds = time.perf_counter() - start
        delta = (adv - x).reshape(len(x), -1).astype(np.float64)
        size = {"linf": np.abs(delta).max(1), "l2": np.sqrt((delta**2).sum(1)), "l1": np.abs(delta).sum(1)}[norm]
        fooled = np.argmax(model.predict(adv, verbose=0), axis=1) != y
        radius = np.where(fooled, size, np.inf)[correct]
        print(f"| {norm} | Foolbox 3 | {np.median(radius):.6f} | {np.isfinite(radius).mean():.1%} | {seconds:.1f} |")
        start = time.perf_counter()
        ours = FMN(eps=0.0, norm=norm, steps=STEPS, seed=0).run(model, x, y).radius[correct]
        seconds = time.perf_counter() - start
        print(f"| {norm} | robustkit | {np.median(ours):.6f} | {np.isfinite(ours).mean():.1%} | {seconds:.1f} |")


if __name__ == "__main__":
    curves()
    against_foolbox()

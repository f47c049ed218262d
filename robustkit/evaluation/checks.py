"""Trust checks: automatic checks that an evaluation can be trusted.

Published robust accuracies have often been artifacts of a broken evaluation, mostly gradient
masking: the attack fails because its gradients are useless, not because the model is robust.
Each check here measures one symptom and reports ``pass``, ``warn`` or ``fail`` with the value it
measured and a sentence on what it means and what to do, or ``n/a`` when the suite gives it nothing
to measure (a check that did not run never reads as passed). ``run_checks`` runs them all for one
model; the runner does so for every model and the reports show them.

Example:
    >>> CheckResult("nondeterminism", "pass", "0", "Repeated forward passes agree.").status
    'pass'
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks import ATTACKS
from robustkit.attacks.few_classes import loss_for_classes
from robustkit.errors import GradientError
from robustkit.evaluation.attack_cells import attack_for
from robustkit.evaluation.certification import CERTIFICATE_CHECK
from robustkit.evaluation.model_checks import (
    NOT_APPLICABLE,
    CheckResult,
    check_finite_differences,
    check_nondeterminism,
    check_probability_outputs,
    check_zero_gradients,
    grade,
    widths,
)
from robustkit.evaluation.results import broken_at, headline_eps
from robustkit.evaluation.suites import AttackSpec, AttackSuite
from robustkit.evaluation.verification_check import VERIFICATION_CHECK
from robustkit.logits import as_logits
from robustkit.losses import attack_objective

CHECKS = (
    "clean-accuracy",
    "probability-outputs",
    "zero-gradients",
    "finite-differences",
    "nondeterminism",
    "huge-eps-reaches-chance",
    "pgd-weaker-than-fgsm",
    "attack-converged",
    "loss-improves",
    "black-box-beats-white-box",
)
ALL_CHECKS = (*CHECKS, CERTIFICATE_CHECK, VERIFICATION_CHECK)  # with the guarantees' own: nothing contradicts them
SCORE_BASED = tuple(kind for kind, attack in ATTACKS.items() if attack.kind == "score")  # outputs only
STEPPED = tuple(  # the gradient attacks on their own loss whose steps and restarts the checks can vary
    kind
    for kind, attack in ATTACKS.items()
    if attack.kind == "gradient" and attack.budget == "steps" and attack.own_loss is None
)
FALLBACK = AttackSpec("pgd-20", "pgd", "linf", steps=20, random_start=True)  # takes the suite's norm
NO_GRADIENT = (
    "The model has no input gradient (it is None: rounding, a cast, stop_gradient or a numpy call on the input "
    "path), so gradient attacks cannot run and their robust accuracy means nothing. Evaluate it with a "
    "gradient-free attack (type = 'square') or give the non-differentiable step a straight-through gradient."
)


def _diameter(norm: str, bounds: tuple, shape: tuple) -> float:
    """The largest distance between two points in the bounds: an eps this large allows any input."""
    span = widths(bounds, shape)
    return float({"linf": span.max(), "l2": np.sqrt(np.sum(span**2)), "l1": np.sum(span)}[norm])


def _stepped_spec(suite: AttackSuite) -> tuple[AttackSpec, str]:
    """The suite's own first PGD or APGD, and how the checks name it; else a PGD-20, named as a fallback."""
    for spec in suite.attacks:
        if spec.type in STEPPED:
            return spec, spec.name
    return dataclasses.replace(FALLBACK, norm=suite.norm), "pgd-20 (fallback: the suite runs no PGD or APGD)"


def _chance(labels: np.ndarray, classes: int) -> float:
    """What a constant guess gets right: 1 / classes, or the share of the most common label if larger."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=classes)
    return max(1.0 / classes, float(counts.max() / max(counts.sum(), 1)))


NEAR_CHANCE = 0.1  # clean accuracy less than this far above chance warns


def check_clean_accuracy(correct: np.ndarray, labels: np.ndarray, classes: int) -> CheckResult:
    """Clean accuracy against chance: a model near or below chance is misread, not non-robust."""
    chance = _chance(labels, classes)
    accuracy = float(np.mean(correct)) if len(correct) else 0.0
    status = "warn" if accuracy < chance + NEAR_CHANCE else "pass"
    return CheckResult(
        "clean-accuracy",
        status,
        f"{accuracy:.1%} (chance {chance:.1%})",
        f"Clean accuracy near or below chance ({chance:.0%}: one class in {classes}, or the most common label's "
        "share) means the model is misread or untrained, and its robust accuracies mean nothing. Check that the "
        "classes are numbered as in training (an image folder's classes are its subfolders in sorted order: give "
        "--class-names in the model's order), that the inputs are preprocessed and scaled as in training "
        "(--bounds), and that the model is trained.",
    )


HUGE_EPS_MARGIN = 0.1  # robust accuracy this far above chance at a huge eps fails the check


def check_huge_eps(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    suite: AttackSuite,
    bounds: tuple,
    seed: int,
    classes: int,
    labels: np.ndarray | None = None,
) -> CheckResult:
    """``labels``: the sample's labels, whose most common class sets chance (default ``y``)."""
    spec, label = _stepped_spec(suite)
    eps = _diameter(suite.norm, bounds, x.shape[1:])
    result = attack_for(spec, eps, bounds, seed, 512).run(model, x, y)
    chance = _chance(y if labels is None else labels, classes)
    accuracy = result.robust_accuracy
    status = "fail" if accuracy > chance + HUGE_EPS_MARGIN else "warn" if accuracy > chance else "pass"
    return CheckResult(
        "huge-eps-reaches-chance",
        status,
        f"{accuracy:.1%} at eps={eps:.3g}",
        f"Robust accuracy of {label} with an eps that allows any input in the bounds. Any classifier that is not "
        f"constant can be broken there, so it must fall to chance ({chance:.0%}: one class in {classes}, or the "
        "most common label's share) or below; if not, the attack is failing (masked gradients, too few steps), "
        "not the model succeeding.",
    )


def check_pgd_vs_fgsm(records: dict, suite: AttackSuite) -> CheckResult:
    fgsm = [s.name for s in suite.attacks if s.type == "fgsm"]
    pgd = [s.name for s in suite.attacks if s.type == "pgd"]
    if not fgsm or not pgd:
        return CheckResult(
            "pgd-weaker-than-fgsm",
            NOT_APPLICABLE,
            "",
            "The suite does not run both FGSM and PGD, so they are not compared.",
        )
    worst = 0.0
    for f in fgsm:
        for p in pgd:
            a = broken_at(records[f]["broken_eps"])
            b = broken_at(records[p]["broken_eps"])
            worst = max(worst, float(np.mean(a < b)))
    return CheckResult(
        "pgd-weaker-than-fgsm",
        grade(worst, 0.02, 0.05),
        f"{worst:.1%}",
        "Share of examples that FGSM breaks at a smaller eps than PGD (a few, from PGD's random start, are "
        "normal). PGD contains FGSM's direction; when it often does worse, its step size or step count is wrong "
        "for this model, or the loss surface is masked.",
    )


def _informative_eps(suite: AttackSuite, records: dict, clean_correct: np.ndarray) -> float:
    """The grid eps where the PGD robust accuracy is closest to half the clean accuracy: where a weak attack
    shows most (at a tiny eps nothing breaks, at a huge one everything); the headline eps without a PGD."""
    spec, _ = _stepped_spec(suite)
    record = records.get(spec.name)
    if record is None:
        return headline_eps(suite.config())
    broken = broken_at(record["broken_eps"])
    target = 0.5 * clean_correct.mean()
    return float(min(suite.input_eps, key=lambda e: abs(np.mean(clean_correct & (broken > e)) - target)))


def check_convergence(model, x, y, suite, bounds, seed, eps) -> CheckResult:
    spec, label = _stepped_spec(suite)
    base = attack_for(spec, eps, bounds, seed, 512, early_stop=False).run(model, x, y)
    twice = dataclasses.replace(spec, steps=spec.steps * 2, random_start=True, restarts=3)
    stronger = attack_for(twice, eps, bounds, seed + 1, 512, early_stop=True).run(model, x, y)
    drop = base.robust_accuracy - stronger.robust_accuracy
    return CheckResult(
        "attack-converged",
        grade(drop, 0.03, 0.10),
        f"{drop:+.1%} at eps={eps:g}",
        f"Drop in robust accuracy when {label} gets twice the steps and 3 random restarts. A material drop "
        "means that attack has not converged: its numbers overstate robustness; raise steps or restarts.",
    )


def check_loss_improves(model, x, y, suite, bounds, seed, eps) -> CheckResult:
    spec, label = _stepped_spec(suite)
    # Eager on purpose: one more compiled gradient for yet another batch size buys nothing here.
    logits = as_logits(model)(tf.constant(x))
    clean_loss = attack_objective(loss_for_classes(spec.loss, logits.shape[-1]), logits, tf.constant(y, tf.int32))
    result = attack_for(spec, eps, bounds, seed, 512, early_stop=False).run(model, x, y)
    failed = ~result.success
    stuck = (result.loss <= clean_loss.numpy() + 1e-6) & failed
    fraction = float(stuck.sum() / max(failed.sum(), 1))
    return CheckResult(
        "loss-improves",
        grade(fraction, 0.10, 0.30),
        f"{fraction:.1%} at eps={eps:g}",
        f"Share of the examples {label} failed to break whose attack loss never rose above its clean value. An "
        "attack that cannot raise the loss is not searching: masked or zero gradients, or a step size far "
        "too small.",
    )


def check_black_box_beats_white_box(records: dict, suite: AttackSuite) -> CheckResult:
    """Share of examples a score-based attack broke at a smaller eps than every gradient attack."""
    black = [s.name for s in suite.attacks if s.type in SCORE_BASED]
    white = [s.name for s in suite.attacks if s.type not in SCORE_BASED]
    if not black or not white:
        return CheckResult(
            "black-box-beats-white-box",
            NOT_APPLICABLE,
            "",
            "The attack suite does not run both a score-based attack (Square) and a gradient attack.",
        )

    def first_break(names):
        rows = [broken_at(records[n]["broken_eps"]) for n in names]
        return np.min(
            [np.full_like(r, np.inf) if records[n].get("no_gradient") else r for n, r in zip(names, rows)], axis=0
        )

    share = float(np.mean(first_break(black) < first_break(white)))
    return CheckResult(
        "black-box-beats-white-box",
        grade(share, 0.03, 0.10),
        f"{share:.1%}",
        "Share of examples that Square, which sees only the model's outputs, broke at a smaller eps than "
        "every gradient attack. Gradient attacks use strictly more information; when they lose like this, "
        "the gradients are masked (quantization, saturation, stop_gradient, randomness): trust only the "
        "black-box numbers and fix the gradient path or use a straight-through estimator.",
    )


def _guarded(name: str, check, *args) -> CheckResult:
    try:
        return check(*args)
    except GradientError:
        return CheckResult(name, "fail", "no gradient", NO_GRADIENT)


def run_checks(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    correct: np.ndarray,
    suite: AttackSuite,
    records: dict,
    bounds: tuple,
    num_classes: int,
    seed: int = 0,
    label: str = "",
    sample: int = 128,
) -> list[CheckResult]:
    """Run every check on (a sample of) the data for one model and its first attack suite."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.permutation(len(y))[: min(sample, len(y))])
    xs, ys = x[chosen], y[chosen]
    correct_rows = chosen[correct[chosen]]
    xc, yc = (x[correct_rows], y[correct_rows]) if len(correct_rows) else (xs, ys)
    eps = _informative_eps(suite, records, correct)
    results = [
        check_clean_accuracy(correct, y, num_classes),
        check_probability_outputs(model, xs),
        _guarded("zero-gradients", check_zero_gradients, model, xs, ys),
        _guarded("finite-differences", check_finite_differences, model, xs, ys, bounds, seed),
        check_nondeterminism(model, xs),
        _guarded("huge-eps-reaches-chance", check_huge_eps, model, xc, yc, suite, bounds, seed, num_classes, ys),
        check_pgd_vs_fgsm(records, suite),
        _guarded("attack-converged", check_convergence, model, xc, yc, suite, bounds, seed, eps),
        _guarded("loss-improves", check_loss_improves, model, xc, yc, suite, bounds, seed, eps),
        check_black_box_beats_white_box(records, suite),
    ]
    for result in results:
        result.model = label
    return results

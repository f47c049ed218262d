"""The trust checks that need only the model: its outputs, gradients and determinism on a sample of the data.

Each returns a :class:`CheckResult`: ``pass``, ``warn`` or ``fail`` with the value it measured and
a sentence on what it means and what to do (see :mod:`robustkit.evaluation.checks`).

Example:
    >>> CheckResult("nondeterminism", "pass", "0", "Repeated forward passes agree.").status
    'pass'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.evaluation.results import CheckRecord
from robustkit.gradients import loss_and_gradient
from robustkit.logits import as_logits

NOT_APPLICABLE = "n/a"  # the suite gave the check nothing to measure


@dataclass
class CheckResult:
    """One check's verdict on one model."""

    name: str
    status: str  # "pass", "warn", "fail", or NOT_APPLICABLE
    value: str
    message: str
    model: str = ""

    def to_dict(self) -> CheckRecord:
        return CheckRecord(name=self.name, status=self.status, value=self.value, message=self.message, model=self.model)


def grade(value: float, warn: float, fail: float) -> str:
    return "fail" if value > fail else "warn" if value > warn else "pass"


def check_probability_outputs(model: Any, x: np.ndarray) -> CheckResult:
    view = as_logits(model, x_sample=tf.constant(x[:32]))
    if view.source in ("logits", "one-logit"):
        what = "logits" if view.source == "logits" else "one logit z (read as the two logits [0, z])"
        return CheckResult(
            "probability-outputs", "pass", "logits", f"The model returns {what}; attacks differentiate them directly."
        )
    if view.source == "sigmoid-probability":
        return CheckResult(
            "probability-outputs",
            "fail",
            "probabilities",
            "The model returns one probability and no logit can be found in it; attacks use its log-odds, whose "
            "gradient vanishes wherever the probability saturates. Return the logit (drop the final sigmoid).",
        )
    if view.binary:
        return CheckResult(
            "probability-outputs",
            "warn",
            view.source,
            "The model ends in a sigmoid; robustkit attacks its logit z before it, as the two logits [0, z]. Export "
            "the logit model to make this explicit.",
        )
    if view.source == "log-probabilities":
        return CheckResult(
            "probability-outputs",
            "fail",
            "probabilities",
            "The model returns probabilities and no logits can be found in it; attacks use their log, whose "
            "gradient vanishes wherever a probability saturates. Return logits (drop the final softmax).",
        )
    return CheckResult(
        "probability-outputs",
        "warn",
        view.source,
        "The model ends in a softmax; robustkit attacks the logits before it. Export the logits model to make "
        "this explicit.",
    )


def check_zero_gradients(model: Any, x: np.ndarray, y: np.ndarray) -> CheckResult:
    _, grad = loss_and_gradient(model, x, y)
    flat = tf.reshape(grad, [len(x), -1]).numpy()
    bad = ~np.all(np.isfinite(flat), axis=1) | np.all(flat == 0, axis=1)
    fraction = float(bad.mean())
    return CheckResult(
        "zero-gradients",
        grade(fraction, 0.01, 0.10),
        f"{fraction:.1%}",
        "Share of examples whose loss gradient is all zero, NaN or Inf. Above a few percent, gradient attacks "
        "cannot move (saturated softmax, quantization, stop_gradient): robust accuracy is not trustworthy; "
        "remove the masking or use a gradient-free or BPDA attack.",
    )


NOISE_MULTIPLE = 10  # a slope counts when it exceeds the rounding noise of its finite difference this many times


def check_finite_differences(model: Any, x: np.ndarray, y: np.ndarray, bounds: tuple, seed: int) -> CheckResult:
    """Tape gradients against central finite differences of the margin loss along a random direction.

    The margin (not the cross-entropy, which saturates on confident examples) gives nearly every example
    a slope, and only examples whose slope stands above the finite difference's rounding noise count:
    where both slopes are noise, agreeing noise is no evidence that the gradient is right.
    """
    rng = np.random.default_rng(seed)
    direction = rng.choice([-1.0, 1.0], size=x.shape).astype(x.dtype)
    h = 1e-3 * float(np.min(widths(bounds, x.shape[1:])))
    value, grad = loss_and_gradient(model, x, y, loss="margin")
    tape = np.sum((grad.numpy() * direction).reshape(len(x), -1), axis=1)
    plus, _ = loss_and_gradient(model, x + h * direction, y, loss="margin")
    minus, _ = loss_and_gradient(model, x - h * direction, y, loss="margin")
    numeric = (plus.numpy() - minus.numpy()) / (2 * h)
    slope = np.maximum(np.abs(tape), np.abs(numeric))
    logits = as_logits(model)(tf.constant(x)).numpy()
    rounding = float(np.finfo(np.float32).eps) * (np.abs(value.numpy()) + np.abs(logits).max(axis=1)) / (2 * h)
    measurable = slope > NOISE_MULTIPLE * rounding
    if not measurable.any():
        return CheckResult(
            "finite-differences",
            NOT_APPLICABLE,
            "",
            "No example's margin moves measurably along a random direction (every slope is within float32 "
            "rounding), so tape gradients cannot be compared with finite differences here.",
        )
    mismatch = np.abs(tape - numeric)[measurable] / slope[measurable] > 0.5
    fraction = float(mismatch.mean())
    return CheckResult(
        "finite-differences",
        grade(fraction, 0.10, 0.25),
        f"{fraction:.1%} of {int(measurable.sum())}",
        "Share of the examples with a measurable slope whose tape gradient of the margin loss disagrees with "
        "central finite differences along a random direction (by more than 50%). Disagreement means the "
        "gradient is not the function's slope: non-differentiable or straight-through layers, rounding, or "
        "randomness. Attacks following it underestimate vulnerability.",
    )


def check_nondeterminism(model: Any, x: np.ndarray) -> CheckResult:
    view = as_logits(model)
    outputs = [view(tf.constant(x[:64])).numpy() for _ in range(3)]
    spread = max(float(np.max(np.abs(o - outputs[0]))) for o in outputs[1:])
    scale = max(float(np.max(np.abs(outputs[0]))), 1e-6)
    relative = spread / scale
    return CheckResult(
        "nondeterminism",
        "fail" if relative > 1e-4 else "pass",
        f"{relative:.2g}",
        "Largest relative change of the logits over three identical forward passes in inference mode. A "
        "random model (dropout forced on, noise layers) makes every robust accuracy a sample of a random "
        "variable and hides gradients; evaluate it deterministically or with expectation over "
        "transformation.",
    )


def widths(bounds: tuple, shape: tuple) -> np.ndarray:
    """``upper - lower`` for every feature of one example."""
    lower, upper = (np.asarray(b, dtype=np.float64) for b in bounds)
    return np.broadcast_to(upper - lower, shape)

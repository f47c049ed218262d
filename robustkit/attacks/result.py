"""What an attack returns for a batch (or a whole data set)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf


@dataclass
class AttackResult:
    """The outcome of :meth:`LoopAttack.run`.

    Attributes:
        x_adv: the adversarial examples, x's shape and dtype.
        success: per example, whether ``x_adv`` is misclassified (untargeted) or classified as
            the target (targeted).
        clean_pred: the model's prediction on the clean input.
        adv_pred: the model's prediction on ``x_adv``.
        loss: the attack objective at ``x_adv`` (see :mod:`robustkit.losses`).
        norms: ``||x_adv - x||`` per example, in the attack's norm.
        grad_evals: gradient evaluations spent on each example (early stopping lowers it).
        queries: forward passes a score-based attack (Square) spent on each example, else None.
        broken_by: for an ensemble, the attack that broke each example first, else None.
        radius: for a minimum-norm attack (FAB), the smallest adversarial perturbation norm found
            per example (``inf`` when none was), else None.
        labels: the true labels; ``targets``: the targets of a targeted attack, else None.
        seed: the seed the random starts were drawn from.

    Example:
        >>> result = AttackResult(tf.zeros((2, 1)), np.array([True, False]), np.array([0, 1]),
        ...                       np.array([1, 1]), np.zeros(2), np.zeros(2), np.array([3, 10]),
        ...                       np.array([0, 1]))
        >>> result.robust_accuracy
        0.5
    """

    x_adv: tf.Tensor
    success: np.ndarray
    clean_pred: np.ndarray
    adv_pred: np.ndarray
    loss: np.ndarray
    norms: np.ndarray
    grad_evals: np.ndarray
    labels: np.ndarray
    targets: np.ndarray | None = None
    seed: int | None = None
    attack: str = ""
    queries: np.ndarray | None = None
    broken_by: np.ndarray | None = None
    radius: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.success.shape[0])

    @property
    def clean_correct(self) -> np.ndarray:
        return self.clean_pred == self.labels

    @property
    def clean_accuracy(self) -> float:
        return float(np.mean(self.clean_correct)) if len(self) else float("nan")

    @property
    def robust(self) -> np.ndarray:
        """Per example: correct on the clean input and on ``x_adv`` alike."""
        return self.clean_correct & (self.adv_pred == self.labels)

    @property
    def robust_accuracy(self) -> float:
        return float(np.mean(self.robust)) if len(self) else float("nan")

    @property
    def success_rate(self) -> float:
        """The share of the examples classified correctly that the attack broke (an example misclassified
        already needs no attack, so it does not count; NaN when none is classified correctly)."""
        correct = self.clean_correct
        return float(np.mean(self.success[correct])) if correct.any() else float("nan")

    @property
    def total_grad_evals(self) -> int:
        return int(np.sum(self.grad_evals))

    def __repr__(self) -> str:
        return (
            f"AttackResult({self.attack or 'attack'}, n={len(self)}, "
            f"clean_accuracy={self.clean_accuracy:.4f}, robust_accuracy={self.robust_accuracy:.4f}, "
            f"success_rate={self.success_rate:.4f}, grad_evals={self.total_grad_evals})"
        )

    @staticmethod
    def concat(parts: list[AttackResult]) -> AttackResult:
        """Join the results of consecutive batches."""
        if not parts:
            raise ValueError("no results to join")
        first = parts[0]

        def cat(name):
            return np.concatenate([getattr(p, name) for p in parts])

        return AttackResult(
            x_adv=tf.concat([p.x_adv for p in parts], axis=0),
            success=cat("success"),
            clean_pred=cat("clean_pred"),
            adv_pred=cat("adv_pred"),
            loss=cat("loss"),
            norms=cat("norms"),
            grad_evals=cat("grad_evals"),
            labels=cat("labels"),
            targets=None if first.targets is None else cat("targets"),
            seed=first.seed,
            attack=first.attack,
            queries=None if first.queries is None else cat("queries"),
            radius=None if first.radius is None else cat("radius"),
        )

"""Watching robust accuracy during training, and stopping on catastrophic overfitting."""

from __future__ import annotations

from typing import Any

import keras

from robustkit.attacks import PGD
from robustkit.training.adversarial import AdversarialTrainer


class RobustAccuracyMonitor(keras.callbacks.Callback):
    """Measure PGD robust accuracy on a held-out batch each epoch; stop on catastrophic overfitting.

    Catastrophic overfitting (Wong et al., 2020): single-step adversarial training suddenly loses
    all robustness to multi-step attacks while clean accuracy holds. The monitor logs
    ``val_robust_accuracy`` and ``val_clean_accuracy``; when robust accuracy falls below
    ``collapse_fraction`` of its best value while clean accuracy stays within ``clean_margin`` of
    its best, it stops training and (``restore_best=True``) restores the weights of the most
    robust epoch.

    Example:
        >>> import numpy as np
        >>> monitor = RobustAccuracyMonitor(np.zeros((4, 8, 8, 1), "float32"), [0, 1, 2, 3], eps=0.1, steps=10)
        >>> monitor.attack.config()["attack"], monitor.attack.steps
        ('pgd', 10)
        >>> # trainer.fit(x, y, epochs=30, callbacks=[monitor]) stops when robust accuracy collapses
    """

    def __init__(
        self,
        x,
        y,
        eps: float,
        norm: str = "linf",
        steps: int = 10,
        bounds: Any = (0.0, 1.0),
        collapse_fraction: float = 0.5,
        clean_margin: float = 0.05,
        min_epochs: int = 1,
        restore_best: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.x, self.y = x, y
        self.attack = PGD(eps=eps, steps=steps, norm=norm, bounds=bounds, seed=seed)
        self.collapse_fraction = collapse_fraction
        self.clean_margin = clean_margin
        self.min_epochs = min_epochs
        self.restore_best = restore_best
        self.history: list[tuple[int, float, float]] = []
        self.collapsed_at: int | None = None
        self._best = (-1.0, -1.0, None)

    def _network(self):
        return self.model.model if isinstance(self.model, AdversarialTrainer) else self.model

    def on_epoch_end(self, epoch, logs=None):
        network = self._network()
        result = self.attack.run(network, self.x, self.y)
        robust, clean = result.robust_accuracy, result.clean_accuracy
        self.history.append((epoch, clean, robust))
        if logs is not None:
            logs["val_robust_accuracy"] = robust
            logs["val_clean_accuracy"] = clean
        best_robust, best_clean, _ = self._best
        if robust > best_robust:
            self._best = (robust, max(clean, best_clean), network.get_weights() if self.restore_best else None)
        best_robust, best_clean, weights = self._best
        collapsed = robust < self.collapse_fraction * best_robust and clean >= best_clean - self.clean_margin
        if collapsed and epoch + 1 >= self.min_epochs:
            self.collapsed_at = epoch
            self.model.stop_training = True
            if self.restore_best and weights is not None:
                network.set_weights(weights)

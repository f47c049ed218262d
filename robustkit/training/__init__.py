"""Adversarial, Gaussian-noise and certified (interval-bound) training inside ``model.fit``, adversarial
data augmentation, and AugMix over the common corruptions.

Example:
    >>> from robustkit.training import AdversarialTrainer, RobustAccuracyMonitor, augment_dataset
    >>> AdversarialTrainer.__name__
    'AdversarialTrainer'
"""

from typing import TYPE_CHECKING

from robustkit._facade import lazy_exports

_EXPORTS = {
    "AdversarialTrainer": "robustkit.training.adversarial",
    "AugMixBatches": "robustkit.training.corruption_augment",
    "IntervalTrainer": "robustkit.training.interval",
    "NoiseTrainer": "robustkit.training.noise",
    "RobustAccuracyMonitor": "robustkit.training.monitor",
    "adversarial_arrays": "robustkit.training.augment",
    "augment_dataset": "robustkit.training.augment",
    "augmix": "robustkit.training.corruption_augment",
    "mix_adversarial": "robustkit.training.augment",
}
__all__ = [
    "AdversarialTrainer",
    "AugMixBatches",
    "IntervalTrainer",
    "NoiseTrainer",
    "RobustAccuracyMonitor",
    "adversarial_arrays",
    "augment_dataset",
    "augmix",
    "mix_adversarial",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from robustkit.training.adversarial import AdversarialTrainer
    from robustkit.training.augment import adversarial_arrays, augment_dataset, mix_adversarial
    from robustkit.training.corruption_augment import AugMixBatches, augmix
    from robustkit.training.interval import IntervalTrainer
    from robustkit.training.monitor import RobustAccuracyMonitor
    from robustkit.training.noise import NoiseTrainer

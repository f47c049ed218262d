"""Adversarial examples for data augmentation: as arrays, as a ``tf.data`` pipeline, or on disk.

Examples made against a fixed model are *transfer* examples for any other model, including a
model still being trained on them: they stop being worst-case for it as its weights move. For
examples that follow the model being trained, use :mod:`robustkit.training.adversarial`.

Example:
    >>> import numpy as np
    >>> x, x_adv, y = np.zeros((4, 2)), np.ones((4, 2)), np.arange(4)
    >>> xs, ys, flags = mix_adversarial(x, x_adv, y, ratio=0.5, keep_originals=True, seed=0)
    >>> xs.shape, int(flags.sum())
    ((6, 2), 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks.base import LoopAttack
from robustkit.errors import ConfigError


def mix_adversarial(
    x: np.ndarray, x_adv: np.ndarray, y: np.ndarray, ratio: float = 1.0, keep_originals: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combine clean and adversarial examples.

    Args:
        x, x_adv, y: clean inputs, their adversarial versions and the labels.
        ratio: fraction of examples (chosen at random, seeded) whose adversarial version is used.
        keep_originals: True appends the chosen adversarial rows to all originals; False replaces
            the chosen originals by them (same number of rows).

    Returns:
        ``(inputs, labels, is_adversarial)``.
    """
    if not 0.0 <= float(ratio) <= 1.0:
        raise ConfigError(f"ratio must lie in [0, 1], got {ratio!r}.")
    x, x_adv, y = np.asarray(x), np.asarray(x_adv), np.asarray(y)
    if x.shape != x_adv.shape or len(y) != len(x):
        raise ConfigError(f"x {x.shape}, x_adv {x_adv.shape} and y ({len(y)}) must match.")
    n = len(x)
    chosen = np.sort(np.random.default_rng(seed).permutation(n)[: int(round(ratio * n))])
    if keep_originals:
        inputs = np.concatenate([x, x_adv[chosen]])
        labels = np.concatenate([y, y[chosen]])
        flags = np.concatenate([np.zeros(n, bool), np.ones(len(chosen), bool)])
        return inputs, labels, flags
    inputs = x.copy()
    inputs[chosen] = x_adv[chosen]
    flags = np.zeros(n, bool)
    flags[chosen] = True
    return inputs, y.copy(), flags


def adversarial_arrays(
    model: Any, x: Any, y: Any, attack: LoopAttack, ratio: float = 1.0, keep_originals: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attack ``x`` with ``attack`` and mix the result as in :func:`mix_adversarial`.

    Args:
        model, x, y: the model and the examples to attack.
        attack: any attack (``robustkit.attacks``).
        ratio, keep_originals, seed: as for :func:`mix_adversarial`.
    """
    x_adv = attack(model, x, y, seed=seed).numpy()
    return mix_adversarial(np.asarray(x), x_adv, np.asarray(y), ratio, keep_originals, seed)


def augment_dataset(
    dataset: tf.data.Dataset,
    model: Any,
    attack: LoopAttack,
    ratio: float = 1.0,
    keep_originals: bool = True,
    seed: int = 0,
) -> tf.data.Dataset:
    """A ``tf.data`` transformation: each ``(x, y)`` batch gains (or is replaced by) adversarial rows.

    The attack runs batch by batch as the dataset is iterated, so memory stays bounded by the
    batch. Use it as ``dataset.apply(lambda ds: augment_dataset(ds, model, attack))``.
    """
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ConfigError("augment_dataset needs a dataset of (x, y) batches.")
    x_spec, y_spec = spec

    def generate():
        for index, (xb, yb) in enumerate(dataset):
            xs, ys, _ = adversarial_arrays(model, xb, yb, attack, ratio, keep_originals, seed + index)
            yield xs.astype(x_spec.dtype.as_numpy_dtype), ys.astype(y_spec.dtype.as_numpy_dtype)

    return tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec((None,) + tuple(x_spec.shape[1:]), x_spec.dtype),
            tf.TensorSpec((None,) + tuple(y_spec.shape[1:]), y_spec.dtype),
        ),
    )

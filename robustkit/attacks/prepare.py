"""Turning what a user passes to an attack into checked tensors: inputs, labels, targets.

Example:
    >>> import keras, numpy as np
    >>> from robustkit.attacks import PGD
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> batch = prepare_batch(PGD(eps=0.1), model, np.full((2, 4), 0.5, "float32"), [0, 2], None)
    >>> batch.labels.numpy().tolist(), batch.classes
    ([0, 2], 3)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from robustkit.attacks.few_classes import loss_for_classes
from robustkit.errors import ConfigError, InputError, LabelError
from robustkit.inputs import as_float_tensor, as_int_labels, ensure_in_bounds
from robustkit.logits import LogitsView, as_logits, num_classes_of
from robustkit.losses import min_classes
from robustkit.row_random import mix_keys, row_uniform
from robustkit.tape import validate_input_shape

TARGET_STREAM = 1 << 21  # random targets draw apart from the restarts' random starts


class PreparedBatch(NamedTuple):
    view: LogitsView
    x: tf.Tensor
    labels: tf.Tensor
    targets: tf.Tensor | None
    classes: int


def prepare_batch(attack: Any, model: Any, x: Any, y: Any, target: Any) -> PreparedBatch:
    """Check one batch against the model and the attack's bounds, loss and targeting."""
    x = as_float_tensor(x)
    if x.shape.rank is None or x.shape.rank < 2:
        raise InputError(f"x must be a batch with a leading example axis, got shape {tuple(x.shape)}.")
    validate_input_shape(model, x)
    try:
        np.broadcast_shapes(attack.lower.shape, tuple(x.shape[1:]))
        np.broadcast_shapes(attack.upper.shape, tuple(x.shape[1:]))
    except ValueError:
        raise ConfigError(
            f"bounds of shape {attack.lower.shape} / {attack.upper.shape} do not broadcast to one "
            f"example of shape {tuple(x.shape[1:])}."
        ) from None
    ensure_in_bounds(x, attack.lower, attack.upper)
    constraints = getattr(attack, "constraints", None)
    if constraints is not None and constraints.radius.shape != tuple(x.shape[1:]):
        raise ConfigError(
            f"The feature constraints were made for examples of shape {constraints.radius.shape}, but x has "
            f"examples of shape {tuple(x.shape[1:])}."
        )
    view = as_logits(model, x_sample=x[:8])
    classes = num_classes_of(view, x)
    if classes < min_classes(loss_for_classes(attack.loss, classes)):
        raise ConfigError(
            f"loss={attack.loss!r} needs at least {min_classes(attack.loss)} classes; the model has {classes}."
        )
    labels = as_int_labels(y, classes, int(x.shape[0]))
    return PreparedBatch(view, x, labels, _given_targets(attack, target, classes, int(x.shape[0])), classes)


def _given_targets(attack: Any, target: Any, classes: int, n: int) -> tf.Tensor | None:
    if not attack.targeted:
        if target is not None:
            raise ConfigError("target labels were given to an untargeted attack; create it with targeted=True.")
        return None
    if target is None and attack.target is None:
        raise LabelError(
            "This attack is targeted but no targets were given: pass target=<labels> when "
            "calling it, or create it with target='random' or target='least_likely'."
        )
    return None if target is None else as_int_labels(target, classes, n, name="target")


def choose_targets(mode: str, batch: PreparedBatch, keys: tf.Tensor) -> tf.Tensor:
    """Targets chosen automatically: the least likely class, or a random wrong one (drawn from
    each example's random key)."""
    if mode == "least_likely":
        logits = batch.view(batch.x)
        # Never target the true class, even when it is the least likely one.
        masked = tf.where(tf.one_hot(batch.labels, batch.classes) > 0, tf.constant(np.inf, logits.dtype), logits)
        return tf.argmin(masked, axis=-1, output_type=tf.int32)
    draw = row_uniform(mix_keys(keys, TARGET_STREAM), 0, 1)[:, 0]
    offset = 1 + tf.minimum(tf.cast(draw * (batch.classes - 1), tf.int32), batch.classes - 2)
    return (batch.labels + offset) % batch.classes


def batches(x: Any, y: Any, target: Any, batch_size: int):
    """``(x, y, target)`` slices of at most ``batch_size`` examples, from arrays or a ``tf.data.Dataset``."""
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ConfigError("Pass a tf.data.Dataset of (x, y) pairs alone, with y=None.")
        for element in x:
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                raise InputError("A dataset passed to an attack must yield (x, y) batches.")
            xb, yb = element[0], element[1]
            if xb.shape.rank is not None and xb.shape.rank >= 1:
                for start in range(0, int(xb.shape[0]), batch_size):
                    yield xb[start : start + batch_size], yb[start : start + batch_size], None
        return
    if y is None:
        raise LabelError("y is required: pass the true labels of x.")
    n = int(x.shape[0]) if hasattr(x, "shape") and len(x.shape) else len(x)
    if len(y) != n:
        raise LabelError(f"y has {len(y)} labels but x has {n} examples; they must match one to one.")
    if target is not None and not isinstance(target, str) and len(target) != n:
        raise LabelError(f"target has {len(target)} labels but x has {n} examples.")
    for start in range(0, n, batch_size):
        stop = start + batch_size
        yield x[start:stop], y[start:stop], None if target is None else target[start:stop]


def checked_index(index: Any, x: Any) -> np.ndarray:
    """``index`` as int64 data-set positions, one per example of ``x`` (arrays) or in order (datasets)."""
    positions = np.asarray(index)
    if positions.ndim != 1 or not (np.issubdtype(positions.dtype, np.integer) or positions.size == 0):
        raise InputError(
            f"index must be a 1-D array of integers (one per example), got {positions.dtype} "
            f"with shape {positions.shape}."
        )
    if positions.size and positions.min() < 0:
        raise InputError("index must hold non-negative data-set positions.")
    if not isinstance(x, tf.data.Dataset):
        n = int(x.shape[0]) if hasattr(x, "shape") and len(x.shape) else len(x)
        if len(positions) != n:
            raise InputError(f"index has {len(positions)} entries but x has {n} examples; give one per example.")
    return positions.astype(np.int64)

"""Per-example attack objectives on logits. An attack *increases* the value these return.

* ``"ce"``: cross-entropy with the true label (untargeted), or minus the cross-entropy with
  the target label (targeted).
* ``"margin"``: the Carlini-Wagner margin: ``max_{j != y} z_j - z_y`` (untargeted) or
  ``z_t - max_{j != t} z_j`` (targeted). Positive exactly when the attack has succeeded.
* ``"dlr"``: the Difference of Logits Ratio of Croce & Hein (2020), invariant to shifting and
  scaling the logits: ``-(z_y - max_{j != y} z_j) / (z_(1) - z_(3))``, with ``z_(k)`` the
  k-th largest logit. Untargeted only; needs at least 3 classes.

Example:
    >>> import tensorflow as tf
    >>> z = tf.constant([[2.0, 0.0, 1.0]])
    >>> float(attack_objective("margin", z, tf.constant([0]))[0])
    -1.0
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from robustkit.errors import ConfigError

LOSSES = ("ce", "margin", "dlr")


def _largest_other(z: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    mask = tf.equal(tf.range(tf.shape(z)[-1], dtype=labels.dtype)[None, :], labels[:, None])
    lowest = tf.constant(z.dtype.min, z.dtype)
    return tf.reduce_max(tf.where(mask, lowest, z), axis=-1)


def _label_logit(z: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    return tf.gather(z, labels, axis=-1, batch_dims=1)


def cross_entropy(z: tf.Tensor, labels: tf.Tensor, targeted: bool, guide: tf.Tensor | None = None) -> tf.Tensor:
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=z)
    return -ce if targeted else ce


def margin(z: tf.Tensor, labels: tf.Tensor, targeted: bool, guide: tf.Tensor | None = None) -> tf.Tensor:
    gap = _largest_other(z, labels) - _label_logit(z, labels)
    return -gap if targeted else gap


def dlr(z: tf.Tensor, labels: tf.Tensor, targeted: bool, guide: tf.Tensor | None = None) -> tf.Tensor:
    ranked = tf.sort(z, axis=-1, direction="DESCENDING")
    tiny = tf.constant(1e-12, z.dtype)
    numerator = _label_logit(z, labels) - _largest_other(z, labels)
    # max(), not "+ tiny": when the top logits tie, the spread is exactly zero, and a sum with a
    # tiny constant can be rewritten away by graph optimisation, leaving 0 / 0.
    return -numerator / tf.maximum(ranked[:, 0] - ranked[:, 2], tiny)


def dlr_towards(z: tf.Tensor, labels: tf.Tensor, targeted: bool, guide: tf.Tensor | None = None) -> tf.Tensor:
    """Targeted DLR (APGD-T): ``-(z_y - z_t) / (z_(1) - (z_(3) + z_(4)) / 2)``, ``t`` the guide class.

    An untargeted objective (any wrong class is a success) that steers towards one class.
    """
    if guide is None:
        raise ConfigError("loss='dlr-targeted' needs a guide class per example (it is APGD-T's loss).")
    ranked = tf.sort(z, axis=-1, direction="DESCENDING")
    spread = tf.maximum(ranked[:, 0] - 0.5 * (ranked[:, 2] + ranked[:, 3]), tf.constant(1e-12, z.dtype))
    return -(_label_logit(z, labels) - _label_logit(z, guide)) / spread


def gap_towards(z: tf.Tensor, labels: tf.Tensor, targeted: bool, guide: tf.Tensor | None = None) -> tf.Tensor:
    """``z_t - z_y``, ``t`` the guide class: the logit gap that FAB-T linearises (untargeted, guided)."""
    if guide is None:
        raise ConfigError("loss='gap-targeted' needs a guide class per example (it is FAB-T's loss).")
    return _label_logit(z, guide) - _label_logit(z, labels)


_BY_NAME: dict[str, Callable[..., tf.Tensor]] = {
    "ce": cross_entropy,
    "margin": margin,
    "dlr": dlr,
    "dlr-targeted": dlr_towards,
    "gap-targeted": gap_towards,
}
GUIDED_LOSSES = ("dlr-targeted", "gap-targeted")  # losses that take a guide class besides the true label


def validate_loss(name: str, targeted: bool = False) -> str:
    """Validate a loss name (case-insensitive) and return it normalised."""
    key = str(name).lower()
    if key in ("cw", "carlini-wagner", "carlini_wagner"):
        key = "margin"
    if key in ("crossentropy", "cross_entropy", "xent"):
        key = "ce"
    if key not in _BY_NAME:
        raise ConfigError(f"Unknown loss {name!r}; choose one of {', '.join(LOSSES)}.")
    if key in ("dlr", *GUIDED_LOSSES) and targeted:
        raise ConfigError(f"loss={key!r} is untargeted only here; use loss='ce' or loss='margin' with targeted=True.")
    return key


def attack_objective(
    name: str, logits: tf.Tensor, labels: tf.Tensor, targeted: bool = False, guide: tf.Tensor | None = None
) -> tf.Tensor:
    """Per-example objective (shape ``(batch,)``) that an attack maximises."""
    return _BY_NAME[validate_loss(name, targeted)](logits, labels, targeted, guide)


def min_classes(name: str) -> int:
    """Fewest classes a loss needs."""
    return {"dlr": 3, "dlr-targeted": 4}.get(validate_loss(name), 2)

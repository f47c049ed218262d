"""Models with two or three classes: the DLR losses need more, so attacks that use them substitute.

The DLR loss divides the logit margin by ``z_(1) - z_(3)`` (Croce & Hein, 2020), which needs a third
class; its targeted form divides by ``z_(1) - (z_(3) + z_(4)) / 2`` and needs four. The division only
makes the loss invariant to scaling the logits; the margin above it is what the attack climbs. So
with fewer classes:

* ``"dlr"`` (APGD-DLR) becomes ``"margin"``, the Carlini-Wagner margin ``max_{j != y} z_j - z_y``;
* ``"dlr-targeted"`` (APGD-T) becomes ``"gap-targeted"``, ``z_t - z_y`` towards each target ``t``:
  the same margin, steered.

Both are DLR's numerators: the search is the same, only its step-size adaptation sees unscaled logits.
On two classes every one of these is the same margin. Models with 4 or more classes are untouched.

Example:
    >>> loss_for_classes("dlr-targeted", 2), loss_for_classes("dlr-targeted", 10), loss_for_classes("ce", 2)
    ('gap-targeted', 'dlr-targeted', 'ce')
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

from robustkit.errors import RobustkitWarning
from robustkit.losses import min_classes

SUBSTITUTES = {"dlr": "margin", "dlr-targeted": "gap-targeted"}
DESCRIBED = {
    "margin": "the margin loss max_{j != y} z_j - z_y",
    "gap-targeted": "the targeted margin z_t - z_y",
}


def loss_for_classes(loss: str, classes: int) -> str:
    """``loss``, or what replaces it on a model with too few classes for it."""
    if loss in SUBSTITUTES and classes < min_classes(loss):
        return SUBSTITUTES[loss]
    return loss


def substitution_note(name: str, loss: str, classes: int) -> str | None:
    """The sentence a report states for an attack whose loss was replaced, or None."""
    used = loss_for_classes(loss, classes)
    if used == loss:
        return None
    return (
        f"{name} uses {DESCRIBED[used]} instead of its loss {loss!r}, which needs at least {min_classes(loss)} "
        f"classes (the model has {classes}): the DLR loss's numerator without its scale-invariant denominator."
    )


def for_classes(attack: Any, classes: int, warn: bool = True) -> Any:
    """``attack``, or a copy of it with its loss replaced for a model with ``classes`` classes."""
    loss = getattr(attack, "loss", None)
    if loss is None or loss_for_classes(loss, classes) == loss:
        return attack
    if warn:
        warnings.warn(str(substitution_note(attack.name, loss, classes)), RobustkitWarning, stacklevel=3)
    changed = copy.copy(attack)
    changed.loss = loss_for_classes(loss, classes)
    return changed

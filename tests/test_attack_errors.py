"""Every bad input to an attack raises a clear robustkit error."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from robustkit.attacks import FGSM, PGD
from robustkit.errors import ConfigError, InputError, LabelError

MODEL = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
X = np.full((3, 6), 0.5, "float32")
Y = np.array([0, 1, 2])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(eps=-0.1), r"eps must be finite and >= 0, got -0.1"),
        (dict(eps=float("nan")), r"eps must be finite and >= 0"),
        (dict(eps=float("inf")), r"eps must be finite and >= 0"),
        (dict(eps="big"), r"eps must be a number"),
        (dict(eps=0.1, steps=0), r"steps must be an integer >= 1, got 0"),
        (dict(eps=0.1, steps=2.5), r"steps must be an integer >= 1"),
        (dict(eps=0.1, step_size=0.0), r"step_size must be finite and > 0, got 0.0"),
        (dict(eps=0.1, step_size=-1), r"step_size must be finite and > 0"),
        (dict(eps=0.1, norm="l3"), r"Unknown norm 'l3'; choose one of linf, l2, l1"),
        (dict(eps=0.1, loss="hinge"), r"Unknown loss 'hinge'; choose one of ce, margin, dlr"),
        (dict(eps=0.1, restarts=0), r"restarts must be an integer >= 1"),
        (dict(eps=0.1, restarts=3, random_start=False), r"restarts > 1 needs random_start=True"),
        (dict(eps=0.1, bounds=(1, 0)), r"bounds need lower < upper"),
        (dict(eps=0.1, bounds=3), r"bounds must be a pair"),
        (dict(eps=0.1, target="most_likely"), r"target must be one of"),
        (dict(eps=0.1, loss="dlr", targeted=True), r"loss='dlr' is untargeted only"),
    ],
)
def test_bad_configuration(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PGD(**kwargs)


def test_fgsm_validates_too():
    with pytest.raises(ConfigError, match="eps must be finite"):
        FGSM(eps=-1)


def test_inputs_outside_the_bounds():
    x = X.copy()
    x[0, 0] = 1.5
    with pytest.raises(InputError, match=r"outside the bounds \[0, 1\].*divide 8-bit images by 255"):
        PGD(eps=0.1)(MODEL, x, Y)
    # Float slack is tolerated.
    x[0, 0] = 1.0 + 1e-7
    PGD(eps=0.1, steps=1)(MODEL, x, Y)


def test_nan_in_x():
    x = X.copy()
    x[2, 3] = np.nan
    with pytest.raises(InputError, match=r"NaN or Inf value\(s\) \(first at index \[2, 3\]\)"):
        PGD(eps=0.1)(MODEL, x, Y)


def test_integer_x():
    with pytest.raises(InputError, match="dtype int64"):
        PGD(eps=0.1)(MODEL, np.zeros((3, 6), np.int64), Y)


def test_labels_of_the_wrong_shape_or_range():
    with pytest.raises(LabelError, match="y has 2 labels but x has 3 examples"):
        PGD(eps=0.1)(MODEL, X, Y[:2])
    with pytest.raises(LabelError, match=r"values in \[0, 4\] but the model has 4 classes"):
        PGD(eps=0.1)(MODEL, X, np.array([0, 1, 4]))
    with pytest.raises(LabelError, match="one-hot labels need 4 columns"):
        PGD(eps=0.1)(MODEL, X, np.eye(3))


def test_targeted_without_targets():
    with pytest.raises(LabelError, match="targeted but no targets were given"):
        PGD(eps=0.1, targeted=True)(MODEL, X, Y)


def test_targets_for_an_untargeted_attack():
    with pytest.raises(ConfigError, match="untargeted attack"):
        PGD(eps=0.1)(MODEL, X, Y, target=Y)


def test_shape_the_model_does_not_take():
    with pytest.raises(
        InputError,
        match=r"examples have shape \(5,\), 5 values each, but the model takes examples of shape \(6,\), 6 values",
    ):
        PGD(eps=0.1)(MODEL, X[:, :5], Y)


def test_bounds_that_do_not_broadcast():
    with pytest.raises(ConfigError, match="do not broadcast"):
        PGD(eps=0.1, bounds=(np.zeros(4), np.ones(4)))(MODEL, X, Y)


def test_empty_input():
    with pytest.raises(InputError, match="empty"):
        PGD(eps=0.1)(MODEL, X[:0], Y[:0])

"""Bound rules per Keras layer class (robustkit/verify/layer_rules.py): found by class hierarchy, so a
subclass is bounded as its base when it computes the same and refused when it does not; a new layer
type is one rule class; the propagation code never asks a layer or node for its name.

The expected bounds are hand computations: on a linear classifier, the smallest margin over the
L-inf ball inside the box is a sum of per-coordinate minima, in float64."""

from __future__ import annotations

import ast
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import robustkit.verify.layer_rules as layer_rules
from robustkit.errors import ModelError
from robustkit.verify import exact_verify, margin_bounds, network_of, propagate_intervals
from robustkit.verify.rules import AffineRule

EPS = 0.05


class PlainDenseSubclass(keras.layers.Dense):
    """A subclass that only adds a name: it computes what Dense computes."""


class DoublingDense(keras.layers.Dense):
    """A subclass whose call is not Dense's: twice the output."""

    def call(self, inputs):
        return 2.0 * super().call(inputs)


class Shift(keras.layers.Layer):
    """A layer robustkit does not know: ``x + offset``."""

    def __init__(self, offset: float, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def call(self, inputs):
        return inputs + self.offset


class ShiftRule(layer_rules.LayerRule):
    """The whole rule for Shift: an affine map with the identity as its absolute linear part."""

    keras_classes = (Shift,)
    covers = "Shift"

    def rules(self, layer):
        return [AffineRule(layer.name, lambda x: x + layer.offset, tf.identity)]


def _linear(dense_class: type, w: np.ndarray, b: float, shift: float | None = None) -> keras.Model:
    layers = [keras.Input((len(w),))] + ([Shift(shift)] if shift is not None else [])
    model = keras.Sequential(layers + [dense_class(2)])
    model.set_weights([np.stack([w, np.zeros_like(w)], 1).astype("float32"), np.array([b, 0.0], "float32")])
    return model


def _smallest_margin(w: np.ndarray, b: float, x: np.ndarray, label: int, shift: float = 0.0) -> np.ndarray:
    """min over the ball and [0, 1] of (logit[label] - logit[other]) = s (w . (x' + shift) + b), by hand."""
    sign = 1.0 if label == 0 else -1.0
    low, high = np.maximum(x - EPS, 0.0), np.minimum(x + EPS, 1.0)
    coefficient = sign * w
    return np.where(coefficient > 0, coefficient * low, coefficient * high).sum(-1) + sign * (w.sum() * shift + b)


@pytest.fixture
def problem():
    rng = np.random.default_rng(4)
    w = rng.normal(size=6)
    b = float(-w.sum() / 2)
    x = rng.uniform(0, 1, (5, 6))
    labels = (x @ w + b < 0).astype(int)  # each example's own class
    return w, b, x.astype("float32"), labels


@pytest.mark.parametrize("method", ["ibp", "crown"])
def test_a_subclass_of_dense_is_bounded_as_a_dense(problem, method):
    w, b, x, labels = problem
    model = _linear(PlainDenseSubclass, w, b)
    found = margin_bounds(model, x, labels, eps=EPS, method=method)
    other = 1 - labels
    got = found.lower[np.arange(len(x)), other]
    expected = np.array([_smallest_margin(w, b, x[i].astype(np.float64), labels[i]) for i in range(len(x))])
    assert np.allclose(got, expected, atol=1e-5), (got, expected)


def test_a_subclass_that_computes_something_else_is_refused(problem):
    w, b, x, labels = problem
    with pytest.raises(ModelError, match="DoublingDense.*subclasses Dense but computes something else"):
        network_of(_linear(DoublingDense, w, b))


def test_a_new_layer_type_is_one_rule_class(problem, monkeypatch):
    w, b, x, labels = problem
    model = _linear(keras.layers.Dense, w, b, shift=0.25)
    with pytest.raises(ModelError, match=r"'shift.*' \(Shift\)"):
        network_of(model)
    monkeypatch.setattr(layer_rules, "LAYER_RULES", [*layer_rules.LAYER_RULES, ShiftRule()])
    model = _linear(keras.layers.Dense, w, b, shift=0.25)  # a new model: networks are cached per model
    lower, upper = propagate_intervals(network_of(model), tf.zeros((1, 6)), tf.ones((1, 6)))[1]
    assert np.allclose(lower, 0.25) and np.allclose(upper, 1.25)
    expected = np.array([_smallest_margin(w, b, x[i].astype(np.float64), labels[i], 0.25) for i in range(len(x))])
    for method in ("ibp", "crown"):
        found = margin_bounds(model, x, labels, eps=EPS, method=method)
        assert np.allclose(found.lower[np.arange(len(x)), 1 - labels], expected, atol=1e-5), method
    exact = exact_verify(model, x, labels, eps=EPS, prune=False)  # the rule's affine map encodes as rows
    assert np.allclose(exact.margin, expected, atol=1e-4), (exact.margin, expected)


BOUND_MODULES = ["intervals", "linear_bounds", "margins", "exact", "network", "rules", "layer_rules"]


@pytest.mark.parametrize("module", BOUND_MODULES)
def test_bound_code_never_branches_on_a_node_kind_or_a_layer_class_name(module):
    tree = ast.parse((Path(layer_rules.__file__).parent / f"{module}.py").read_text())
    branches = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for side in [node.left, *node.comparators]:
            text = ast.unparse(side)
            if text.endswith(".kind") or (text.startswith("type(") and text.endswith(").__name__")):
                branches.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert not branches, branches

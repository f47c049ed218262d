"""Tape gradients agree with central finite differences (float64) on generated models."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from hypothesis import assume, given
from hypothesis import strategies as st

from robustkit.gradients import hessian_vector_product, jacobian, loss_and_gradient, output_gradient
from robustkit.losses import attack_objective
from tests.fd import ATOL, RTOL, away_from_kinks, build_model, finite_difference, inputs_for, model_specs

batches = st.integers(1, 3)
seeds = st.integers(0, 2**16)


def _stack_eval(model, stacked: np.ndarray) -> np.ndarray:
    """Evaluate a model on a stack (k, batch, ...) of batches, returning (k, batch, classes)."""
    k, batch = stacked.shape[:2]
    out = model(stacked.reshape((k * batch,) + stacked.shape[2:]), training=False).numpy()
    return out.reshape((k, batch) + out.shape[1:])


@given(model_specs(), batches, seeds, st.one_of(st.none(), st.integers(0, 2)))
def test_output_gradient_matches_finite_differences(spec, batch, seed, output_index):
    model, pre = build_model(spec)
    x = inputs_for(spec, batch, seed)
    assume(away_from_kinks(spec, pre, x))

    def total(stacked):
        out = _stack_eval(model, stacked)
        if output_index is not None:
            out = out[..., output_index]
        return out.reshape(len(stacked), -1).sum(axis=1)

    grad = output_gradient(model, x, output_index=output_index)
    assert grad.dtype == tf.float64 and grad.shape == x.shape
    np.testing.assert_allclose(grad.numpy(), finite_difference(total, x), rtol=RTOL, atol=ATOL)


@given(model_specs(), batches, seeds, st.sampled_from(["ce", "margin", "dlr"]), st.booleans())
def test_loss_gradient_matches_finite_differences(spec, batch, seed, loss, targeted):
    assume(not (loss == "dlr" and targeted))
    model, pre = build_model(spec)
    x = inputs_for(spec, batch, seed)
    assume(away_from_kinks(spec, pre, x))
    labels = np.random.default_rng(seed).integers(0, spec.classes, batch)
    logits = model(x, training=False).numpy()
    if loss in ("margin", "dlr"):
        # max and sort are differentiable only where the top logits are not tied.
        ranked = np.sort(logits, axis=1)
        assume(np.min(np.diff(ranked, axis=1)) > 1e-3)

    def total(stacked):
        out = _stack_eval(model, stacked)
        k = len(stacked)
        flat = tf.constant(out.reshape(k * batch, -1))
        values = attack_objective(loss, flat, tf.constant(np.tile(labels, k), tf.int32), targeted)
        return values.numpy().reshape(k, batch).sum(axis=1)

    value, grad = loss_and_gradient(model, x, labels, loss=loss, targeted=targeted)
    assert value.shape == (batch,) and grad.shape == x.shape and grad.dtype == tf.float64
    np.testing.assert_allclose(grad.numpy(), finite_difference(total, x), rtol=RTOL, atol=ATOL)


@given(model_specs(), batches, seeds)
def test_jacobian_matches_finite_differences(spec, batch, seed):
    model, pre = build_model(spec)
    x = inputs_for(spec, batch, seed)
    assume(away_from_kinks(spec, pre, x))
    jac = jacobian(model, x).numpy()
    assert jac.shape == (batch, spec.classes) + spec.input_shape
    for cls in range(spec.classes):

        def column(stacked, cls=cls):
            # Examples are independent, so summing over the batch isolates each example's row.
            return _stack_eval(model, stacked)[..., cls].sum(axis=1)

        np.testing.assert_allclose(jac[:, cls], finite_difference(column, x), rtol=RTOL, atol=ATOL)


@given(model_specs(), batches, seeds, st.booleans())
def test_hessian_vector_product_matches_finite_differences_of_the_gradient(spec, batch, seed, with_loss):
    model, pre = build_model(spec)
    x = inputs_for(spec, batch, seed)
    assume(away_from_kinks(spec, pre, x, margin=1e-2))
    v = np.random.default_rng(seed + 7).normal(size=x.shape)
    labels = np.random.default_rng(seed).integers(0, spec.classes, batch)
    if with_loss:
        hvp = hessian_vector_product(model, x, v, y=labels, loss="ce")
        grad = lambda t: loss_and_gradient(model, t, labels, loss="ce")[1].numpy()  # noqa: E731
    else:
        hvp = hessian_vector_product(model, x, v)
        grad = lambda t: output_gradient(model, t).numpy()  # noqa: E731
    # H v = lim (g(x + h v) - g(x - h v)) / 2h; with the exact tape gradient g the error is
    # O(h^2) = 1e-8 for h = 1e-4 (ReLU models are piecewise linear: both sides are zero).
    h = 1e-4
    expected = (grad(x + h * v) - grad(x - h * v)) / (2 * h)
    assert hvp.shape == x.shape and hvp.dtype == tf.float64
    np.testing.assert_allclose(hvp.numpy(), expected, rtol=1e-5, atol=1e-6)

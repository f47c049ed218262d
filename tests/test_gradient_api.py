"""Gradient module: error paths, softmax handling, dtypes and no retracing."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from robustkit import as_logits
from robustkit.errors import BackendError, GradientError, InputError, LabelError, RobustkitWarning
from robustkit.gradients import (
    hessian_vector_product,
    jacobian,
    loss_and_gradient,
    loss_gradient,
    output_gradient,
    saliency,
    trace_count,
)


def _classifier(final=None, inputs=4, classes=3, seed=0):
    layers = [
        keras.Input((inputs,)),
        keras.layers.Dense(8, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed)),
    ]
    if final == "activation":
        layers.append(
            keras.layers.Dense(
                classes, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed + 1)
            )
        )
    else:
        layers.append(keras.layers.Dense(classes, kernel_initializer=keras.initializers.GlorotUniform(seed + 1)))
        if final == "layer":
            layers.append(keras.layers.Softmax())
        elif final == "activation-layer":
            layers.append(keras.layers.Activation("softmax"))
    return keras.Sequential(layers)


X = np.random.default_rng(0).uniform(0, 1, (5, 4)).astype("float32")
Y = np.array([0, 1, 2, 0, 1])


# --- errors -----------------------------------------------------------------------------------


def test_integer_inputs_are_refused_with_the_cast_to_use():
    with pytest.raises(InputError, match=r"dtype int64.*astype\('float32'\)"):
        output_gradient(_classifier(), np.ones((2, 4), dtype=np.int64))
    with pytest.raises(InputError, match="dtype int32"):
        loss_gradient(_classifier(), tf.ones((2, 4), tf.int32), [0, 1])


def test_shape_the_model_does_not_accept():
    with pytest.raises(
        InputError, match=r"examples have shape \(3,\), 3 values each, but the model takes examples of shape \(4,\)"
    ):
        loss_gradient(_classifier(), X[:, :3], Y)


def test_shape_error_from_a_plain_layer_is_explained():
    layer = keras.layers.Conv2D(2, 3)
    with pytest.raises(InputError, match="could not be called on x of shape"):
        output_gradient(layer, np.ones((2, 4), "float32"))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_inputs(bad):
    x = X.copy()
    x[1, 2] = bad
    with pytest.raises(InputError, match=r"1 NaN or Inf value\(s\) \(first at index \[1, 2\]\)"):
        loss_gradient(_classifier(), x, Y)


def test_labels_out_of_range():
    with pytest.raises(LabelError, match=r"values in \[0, 3\].*3 classes.*\[0, 2\]"):
        loss_gradient(_classifier(), X, [0, 1, 2, 0, 3])
    with pytest.raises(LabelError, match=r"values in \[-1, 2\]"):
        loss_gradient(_classifier(), X, [0, 1, 2, 0, -1])


def test_labels_of_the_wrong_shape():
    with pytest.raises(LabelError, match="has 4 labels but x has 5 examples"):
        loss_gradient(_classifier(), X, [0, 1, 2, 0])
    with pytest.raises(LabelError, match="one-hot labels need 3 columns"):
        loss_gradient(_classifier(), X, np.eye(4)[[0, 1, 2, 3, 0]])
    with pytest.raises(LabelError, match="expected class indices of shape"):
        loss_gradient(_classifier(), X, np.zeros((5, 1, 1), int))
    with pytest.raises(LabelError, match="non-integer"):
        loss_gradient(_classifier(), X, [0.5, 1, 2, 0, 1])


def test_one_hot_labels_equal_integer_labels():
    a = loss_gradient(_classifier(), X, Y)
    b = loss_gradient(_classifier(), X, np.eye(3)[Y])
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "op",
    [tf.round, lambda t: tf.cast(tf.argmax(t, axis=-1), tf.float32), lambda t: tf.zeros_like(t[:, :1]) + 1.0],
    ids=["round", "argmax", "unconnected"],
)
def test_none_gradient_names_cause_and_fix(op):
    with pytest.raises(GradientError, match="non-differentiable operation.*straight-through"):
        output_gradient(op, X)
    with pytest.raises(GradientError, match="is None"):
        jacobian(op, X)


def test_non_tensorflow_backend_fails_at_import_with_the_fix():
    env = dict(os.environ, KERAS_BACKEND="numpy")
    proc = subprocess.run(
        [sys.executable, "-c", "import robustkit"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "BackendError" in proc.stderr
    assert "KERAS_BACKEND=tensorflow" in proc.stderr


def test_backend_error_type():
    assert issubclass(BackendError, RuntimeError)


# --- softmax models ----------------------------------------------------------------------------


@pytest.mark.parametrize("final", ["activation", "layer", "activation-layer"])
def test_softmax_models_are_differentiated_through_their_logits(final):
    soft = _classifier(final)
    twin = _classifier(None)
    twin.set_weights(soft.get_weights())
    with pytest.warns(RobustkitWarning, match="ends in a softmax"):
        view = as_logits(soft)
    np.testing.assert_allclose(view(X).numpy(), twin(X).numpy(), rtol=1e-6)
    for loss in ("ce", "margin", "dlr"):
        np.testing.assert_allclose(
            loss_gradient(soft, X, Y, loss=loss).numpy(),
            loss_gradient(twin, X, Y, loss=loss).numpy(),
            rtol=1e-5,
            atol=1e-7,
        )
    np.testing.assert_allclose(saliency(soft, X).numpy(), saliency(twin, X).numpy(), rtol=1e-5)
    # The model itself is untouched: it still returns probabilities.
    np.testing.assert_allclose(soft(X).numpy().sum(axis=1), 1.0, rtol=1e-6)


def test_softmax_warning_is_given_once_per_model():
    soft = _classifier("activation")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss_gradient(soft, X, Y)
        loss_gradient(soft, X, Y)
    assert sum(issubclass(w.category, RobustkitWarning) for w in caught) == 1


def test_probability_outputs_of_an_opaque_callable_are_detected():
    twin = _classifier(None)

    def opaque(x):
        return tf.nn.softmax(twin(x, training=False))

    with pytest.warns(RobustkitWarning, match="non-negative and sum to one"):
        grad = loss_gradient(opaque, X, Y, loss="margin")
    np.testing.assert_allclose(grad.numpy(), loss_gradient(twin, X, Y, loss="margin").numpy(), rtol=1e-4, atol=1e-6)


# --- dtypes and shapes -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dtype_is_kept(dtype):
    model = _classifier()
    x = tf.cast(tf.constant(X), dtype)
    for grad in (output_gradient(model, x), loss_gradient(model, x, Y), saliency(model, x)):
        assert grad.dtype == tf.as_dtype(dtype)
        assert grad.shape == x.shape
    assert hessian_vector_product(model, x, x).dtype == tf.as_dtype(dtype)


def test_numpy_and_tensor_inputs_give_the_same_result():
    model = _classifier()
    np.testing.assert_array_equal(
        loss_gradient(model, X, Y).numpy(), loss_gradient(model, tf.constant(X), tf.constant(Y)).numpy()
    )


def test_hvp_checks_the_shape_of_v():
    with pytest.raises(InputError, match="v has shape"):
        hessian_vector_product(_classifier(), X, X[:, :2])


def test_saliency_class_index_forms():
    model = _classifier()
    predicted = np.argmax(model(X).numpy(), axis=1)
    np.testing.assert_array_equal(saliency(model, X).numpy(), saliency(model, X, class_index=predicted).numpy())
    by_int = saliency(model, X, class_index=2).numpy()
    np.testing.assert_array_equal(by_int, saliency(model, X, class_index=[2] * 5).numpy())
    with pytest.raises(LabelError, match="class_index"):
        saliency(model, X, class_index=7)


def test_loss_and_gradient_values_are_the_objective():
    model = _classifier()
    value, _ = loss_and_gradient(model, X, Y)
    expected = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=model(X))
    np.testing.assert_allclose(value.numpy(), expected.numpy(), rtol=1e-6)
    targeted, _ = loss_and_gradient(model, X, Y, targeted=True)
    np.testing.assert_allclose(targeted.numpy(), -expected.numpy(), rtol=1e-6)


# --- compiled once -----------------------------------------------------------------------------


def test_second_call_with_the_same_signature_does_not_retrace():
    model = _classifier("activation")
    calls = [
        lambda x: output_gradient(model, x),
        lambda x: output_gradient(model, x, output_index=1),
        lambda x: loss_gradient(model, x, Y),
        lambda x: loss_gradient(model, x, Y, loss="margin", targeted=True),
        lambda x: jacobian(model, x),
        lambda x: hessian_vector_product(model, x, x),
        lambda x: hessian_vector_product(model, x, x, y=Y),
        lambda x: saliency(model, x),
    ]
    for call in calls:
        call(X)  # first call traces
        before = trace_count()
        call(X + 0.1)  # new values, same signature
        call(tf.constant(X * 0.5))
        assert trace_count() == before
    # A new shape traces once more, so the counter does see traces.
    before = trace_count()
    output_gradient(model, X[:2])
    assert trace_count() == before + 1

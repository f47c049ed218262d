"""The three plain-TensorFlow gradient examples come out exactly as TensorFlow's tape says."""

import keras
import numpy as np
import tensorflow as tf

from robustkit.gradients import output_gradient


def test_linear_function_of_a_scalar():
    w, b = tf.Variable(2.0), tf.Variable(1.0)
    grad = output_gradient(lambda x: w * x + b, tf.constant(3.0))
    assert grad.dtype == tf.float32
    assert float(grad) == 2.0


def test_dense_relu_layer_with_unit_kernel():
    layer = keras.layers.Dense(10, activation="relu", kernel_initializer="ones", bias_initializer="zeros")
    grad = output_gradient(layer, np.array([[1.0, 2.0, 3.0]], dtype="float32"))
    np.testing.assert_array_equal(grad.numpy(), [[10.0, 10.0, 10.0]])


def test_two_layer_model_on_a_784_input():
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(10, activation="relu", kernel_initializer="ones"),
            keras.layers.Dense(1, kernel_initializer="ones"),
        ]
    )
    rng = np.random.default_rng(0)
    positive = rng.uniform(0.0, 1.0, (1, 784)).astype("float32")
    grad = output_gradient(model, positive)
    assert grad.shape == (1, 784)
    np.testing.assert_array_equal(grad.numpy(), np.full((1, 784), 10.0, "float32"))
    grad = output_gradient(model, -positive)
    np.testing.assert_array_equal(grad.numpy(), np.zeros((1, 784), "float32"))

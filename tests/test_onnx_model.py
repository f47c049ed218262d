"""ONNX models in: each operator's Keras twin against the onnx package's reference evaluator (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from robustkit.errors import ModelError  # noqa: E402
from robustkit.sources.onnx_model import load_onnx  # noqa: E402
from robustkit.verify import margin_bounds  # noqa: E402

RNG = np.random.default_rng(0)


def _weights(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.normal(size=shape).astype("float32") * 0.5, name)


def _model(nodes, input_shape, output_shape, initializers) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_shape))],
        initializers,
    )
    # opset 15: the reference evaluator's BatchNormalization of opsets before 14 does not follow the
    # operator's formula (checked by hand); 15's does
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def _agrees(proto: onnx.ModelProto, input_shape) -> float:
    """Largest difference between the reference evaluator's outputs and the Keras twin's, on 3 inputs."""
    loaded = load_onnx(proto)
    x = RNG.normal(size=(3, *input_shape[1:])).astype("float32")
    reference = np.concatenate([ReferenceEvaluator(proto).run(None, {"x": x[i : i + 1]})[0] for i in range(3)])
    ours = loaded.model(loaded.to_keras_inputs(x.reshape(3, -1))).numpy()
    assert ours.shape == reference.shape
    return float(np.abs(ours - reference).max())


def _convolutional() -> onnx.ModelProto:
    """Conv (padded, strided) -> BatchNormalization -> LeakyRelu -> MaxPool -> Pad -> AveragePool ->
    Transpose -> Flatten -> Gemm -> Sub/Mul/Div/Add with constants -> Tanh: every layout change."""
    nodes = [
        helper.make_node("Conv", ["x", "k", "kb"], ["c"], pads=[1, 0, 1, 2], strides=[1, 2]),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], epsilon=1e-3),
        helper.make_node("LeakyRelu", ["n"], ["r"], alpha=0.2),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("Pad", ["p", "pads"], ["q"]),
        helper.make_node("AveragePool", ["q"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Transpose", ["a"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["t"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w", "wb"], ["z"], transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Constant", [], ["three"], value=numpy_helper.from_array(np.array(3.0, "float32"))),
        helper.make_node("Sub", ["z", "three"], ["s"]),
        helper.make_node("Mul", ["s", "scale"], ["u"]),
        helper.make_node("Div", ["u", "three"], ["d"]),
        helper.make_node("Add", ["d", "d"], ["e"]),
        helper.make_node("Tanh", ["e"], ["y"]),
    ]
    initializers = [
        _weights("k", 4, 3, 3, 3),
        _weights("kb", 4),
        _weights("g", 4),
        _weights("b", 4),
        _weights("m", 4),
        numpy_helper.from_array(RNG.uniform(0.5, 2.0, 4).astype("float32"), "v"),
        numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 0, 1], "int64"), "pads"),
        _weights("w", 5, 32),
        _weights("wb", 5),
        _weights("scale", 5),
    ]
    return _model(nodes, (1, 3, 8, 9), (1, 5), initializers)


def test_a_convolutional_model_computes_what_the_reference_evaluator_computes():
    assert _agrees(_convolutional(), (1, 3, 8, 9)) < 1e-5


def test_matmul_reshape_and_sigmoid_compute_what_the_reference_evaluator_computes():
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["m"]),
        helper.make_node("Add", ["m", "bias"], ["a"]),
        helper.make_node("Relu", ["a"], ["h"]),
        helper.make_node("Sigmoid", ["h"], ["y"]),
    ]
    shape = numpy_helper.from_array(np.array([1, 12], "int64"), "shape")
    proto = _model(nodes, (1, 3, 4), (1, 6), [shape, _weights("w", 12, 6), _weights("bias", 6)])
    assert _agrees(proto, (1, 3, 4)) < 1e-6


def test_an_image_input_becomes_channels_last_and_vnnlib_order_maps_onto_it():
    proto = _model([helper.make_node("Flatten", ["x"], ["y"])], (1, 2, 3, 3), (1, 18), [])
    loaded = load_onnx(proto)
    assert tuple(loaded.model.inputs[0].shape[1:]) == (3, 3, 2)
    flat = np.arange(18, dtype="float32")[None]  # X_i in ONNX's channels-first order
    assert np.array_equal(loaded.model(loaded.to_keras_inputs(flat)).numpy(), flat)


def test_an_unsupported_operator_is_named():
    proto = _model([helper.make_node("Softplus", ["x"], ["y"])], (1, 4), (1, 4), [])
    with pytest.raises(ModelError, match="Softplus"):
        load_onnx(proto)


def test_an_unreadable_file_says_so(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(Exception, match="broken.onnx"):
        load_onnx(path)


def test_bounds_pass_through_every_layer_of_a_loaded_model():
    """A loaded convolutional model is a network robustkit can bound: bounds below its sampled outputs."""
    proto = _convolutional()
    loaded = load_onnx(proto)
    x = RNG.uniform(0.3, 0.7, size=(2, 8, 9, 3)).astype("float32")
    labels = np.argmax(loaded.model(x).numpy(), axis=1)
    found = margin_bounds(loaded.model, x, labels, 0.05, method="crown")
    samples = x[:, None] + RNG.uniform(-0.05, 0.05, size=(2, 64, 8, 9, 3)).astype("float32")
    outputs = loaded.model(samples.reshape(-1, 8, 9, 3)).numpy().reshape(2, 64, -1)
    margins = outputs[np.arange(2), :, labels][:, :, None] - outputs  # (example, sample, class)
    others = np.isfinite(found.lower)  # the label's own margin is inf
    assert others.sum() == 2 * 4
    assert np.all(np.where(others[:, None, :], found.lower[:, None, :] <= margins + 1e-4, True))

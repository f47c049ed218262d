"""ONNX models in, as Keras models built from Keras layers, so that every robustkit feature works on them.

:func:`load_onnx` reads an ONNX file with the ``onnx`` package (the ``robustkit[onnx]`` extra) and
builds a functional Keras model, one Keras layer per operator, with the file's weights: Gemm and
MatMul become Dense layers, Conv a Conv2D (its padding a ZeroPadding2D), arithmetic with a
constant a Rescaling, and so on (:data:`OPERATORS`). Images are channels-first in ONNX and
channels-last in Keras: a 4-d input ``(N, C, H, W)`` becomes a Keras input ``(H, W, C)``, each
4-d tensor is kept channels-last, and it is transposed back wherever an operator depends on the
order (Flatten, Reshape, Transpose), so the outputs are the ONNX model's. :meth:`OnnxModel.to_keras_inputs`
maps inputs in ONNX's layout (a VNN-LIB file's ``X_i`` order) to the Keras model's. An operator
outside the list raises a :class:`~robustkit.errors.ModelError` that names it.

Example:
    >>> import numpy as np, onnx
    >>> from onnx import helper, numpy_helper
    >>> weight = numpy_helper.from_array(np.array([[1.0, -1.0]], "float32"), "w")
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Gemm", ["x", "w"], ["z"], transB=1), helper.make_node("Relu", ["z"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2])],
    ...     [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1])], [weight])
    >>> loaded = load_onnx(helper.make_model(graph))
    >>> loaded.model(np.array([[3.0, 1.0]], "float32")).numpy().tolist()
    [[2.0]]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from robustkit.errors import ConfigError, ModelError

OPERATORS = (
    "Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu, Sigmoid, Tanh, Conv, BatchNormalization, MaxPool, "
    "AveragePool, Flatten, Reshape, Transpose, Pad, Constant, Identity, Dropout"
)
TO_CHANNELS_LAST, TO_CHANNELS_FIRST = (2, 3, 1), (3, 1, 2)  # keras.layers.Permute's 1-based axes


@dataclass
class OnnxModel:
    """A Keras model built from an ONNX file, and the ONNX input's shape (batch axis included)."""

    model: keras.Model
    onnx_input_shape: tuple[int, ...]

    def to_keras_inputs(self, flat: np.ndarray) -> np.ndarray:
        """Rows of inputs flattened in ONNX's order (shape ``(n, size)``) as the Keras model's inputs."""
        shape = tuple(max(1, d) for d in self.onnx_input_shape[1:])
        values = np.asarray(flat).reshape((-1, *shape))
        return values.transpose(0, 2, 3, 1) if len(shape) == 3 else values


@dataclass
class _Value:
    tensor: Any  # a Keras tensor
    channels_last: bool  # a 4-d ONNX tensor (N, C, H, W) held as (N, H, W, C)


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as error:
        raise ConfigError("Reading ONNX models needs the onnx package: pip install 'robustkit[onnx]'.") from error
    return onnx, numpy_helper


def _attributes(node: Any) -> dict[str, Any]:
    onnx, numpy_helper = _onnx()
    found: dict[str, Any] = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        found[attribute.name] = value.decode() if isinstance(value, bytes) else value
    return found


class _Builder:
    """Keras tensors and constants by ONNX name, and the operators that add layers."""

    def __init__(self, constants: dict[str, np.ndarray]) -> None:
        self.constants = constants
        self.values: dict[str, _Value] = {}

    def value(self, name: str, channels_last: bool | None = None) -> Any:
        """A tensor input, in the layout asked for (None: as held)."""
        found = self.values[name]
        if channels_last is None or channels_last == found.channels_last:
            return found.tensor
        return keras.layers.Permute(TO_CHANNELS_LAST if channels_last else TO_CHANNELS_FIRST)(found.tensor)

    def constant_like(self, constant: np.ndarray, name: str) -> np.ndarray:
        """A constant operand broadcast against tensor ``name``, in that tensor's layout, batch axis dropped."""
        held = self.values[name]
        rank = len(held.tensor.shape)
        value = np.asarray(constant, np.float32)
        if value.ndim > rank:
            raise ModelError(f"A constant of shape {value.shape} does not broadcast against a tensor of rank {rank}.")
        value = value.reshape((1,) * (rank - value.ndim) + value.shape)
        if held.channels_last:
            value = value.transpose(0, 2, 3, 1)
        return value[0]


def _elementwise(builder: _Builder, node: Any, out: str) -> _Value:
    """Add, Sub, Mul and Div: with a constant they are a Rescaling; Add of two tensors is an Add layer."""
    a, b = node.input
    op = node.op_type
    if a in builder.values and b in builder.values:
        if op != "Add":
            raise ModelError(f"ONNX operator {op} of two tensors ({node.name or out!r}) is not supported; Add is.")
        layout = builder.values[a].channels_last
        return _Value(keras.layers.Add()([builder.value(a), builder.value(b, layout)]), layout)
    tensor_first = a in builder.values
    name, constant = (a, builder.constants[b]) if tensor_first else (b, builder.constants[a])
    c = builder.constant_like(constant, name)
    scale, offset = {
        "Add": (1.0, c),
        "Sub": (1.0, -c) if tensor_first else (-1.0, c),
        "Mul": (c, 0.0),
        "Div": (1.0 / c, 0.0) if tensor_first else None,
    }.get(op) or (None, None)
    if scale is None:
        raise ModelError(f"ONNX operator Div of a constant by a tensor ({node.name or out!r}) is not supported.")
    held = builder.values[name]
    return _Value(keras.layers.Rescaling(scale, offset)(held.tensor), held.channels_last)


def _dense(builder: _Builder, node: Any, out: str) -> _Value:
    attributes = _attributes(node)
    if node.op_type == "Gemm" and attributes.get("transA", 0):
        raise ModelError(f"ONNX Gemm with transA=1 ({node.name or out!r}) is not supported.")
    weight = builder.constants[node.input[1]].astype(np.float32)
    if attributes.get("transB", 0):
        weight = weight.T
    weight = weight * float(attributes.get("alpha", 1.0))
    bias = np.zeros(weight.shape[1], np.float32)
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        bias = np.broadcast_to(builder.constants[node.input[2]] * float(attributes.get("beta", 1.0)), bias.shape)
    layer = keras.layers.Dense(weight.shape[1])
    tensor = layer(builder.value(node.input[0], False))
    layer.set_weights([weight, bias.astype(np.float32)])
    return _Value(tensor, False)


def _spatial(attributes: dict, key: str, default: int) -> tuple[int, int]:
    found = attributes.get(key, [default, default])
    return int(found[0]), int(found[1])


def _padded(builder: _Builder, node: Any, tensor: Any, attributes: dict) -> Any:
    pads = [int(p) for p in attributes.get("pads", [0, 0, 0, 0])]
    if attributes.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ModelError(f"ONNX {node.op_type} with auto_pad={attributes['auto_pad']!r} is not supported; give pads.")
    if not any(pads):
        return tensor
    if node.op_type != "Conv":
        raise ModelError(f"ONNX {node.op_type} with pads {pads} is not supported (only convolutions may pad).")
    return keras.layers.ZeroPadding2D(((pads[0], pads[2]), (pads[1], pads[3])))(tensor)


def _conv(builder: _Builder, node: Any, out: str) -> _Value:
    attributes = _attributes(node)
    if int(attributes.get("group", 1)) != 1:
        raise ModelError(f"ONNX Conv with group={attributes['group']} ({node.name or out!r}) is not supported.")
    kernel = builder.constants[node.input[1]].astype(np.float32)  # (out, in, kh, kw)
    tensor = _padded(builder, node, builder.value(node.input[0], True), attributes)
    layer = keras.layers.Conv2D(
        kernel.shape[0],
        kernel.shape[2:],
        strides=_spatial(attributes, "strides", 1),
        dilation_rate=_spatial(attributes, "dilations", 1),
    )
    result = layer(tensor)
    bias = builder.constants[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(kernel.shape[0])
    layer.set_weights([kernel.transpose(2, 3, 1, 0), bias.astype(np.float32)])
    return _Value(result, True)


def _batch_norm(builder: _Builder, node: Any, out: str) -> _Value:
    attributes = _attributes(node)
    held = builder.values[node.input[0]]
    layer = keras.layers.BatchNormalization(
        axis=-1 if held.channels_last else 1, epsilon=attributes.get("epsilon", 1e-5)
    )
    result = layer(held.tensor)
    layer.set_weights([builder.constants[name].astype(np.float32) for name in node.input[1:5]])
    return _Value(result, held.channels_last)


def _pool(builder: _Builder, node: Any, out: str) -> _Value:
    attributes = _attributes(node)
    tensor = _padded(builder, node, builder.value(node.input[0], True), attributes)
    size = _spatial(attributes, "kernel_shape", 1)
    kind = keras.layers.MaxPooling2D if node.op_type == "MaxPool" else keras.layers.AveragePooling2D
    return _Value(kind(size, strides=_spatial(attributes, "strides", 1))(tensor), True)


def _reshape(builder: _Builder, node: Any, out: str) -> _Value:
    tensor = builder.value(node.input[0], False)
    if node.op_type == "Flatten":
        if int(_attributes(node).get("axis", 1)) != 1:
            raise ModelError(f"ONNX Flatten with axis != 1 ({node.name or out!r}) is not supported.")
        return _Value(keras.layers.Flatten()(tensor), False)
    shape = [int(d) for d in builder.constants[node.input[1]]]
    current = [int(d) for d in tensor.shape[1:]]
    target = [current[i - 1] if d == 0 and i > 0 else d for i, d in enumerate(shape)][1:]
    return _Value(keras.layers.Reshape(target)(tensor), False)


def _transpose(builder: _Builder, node: Any, out: str) -> _Value:
    perm = [int(p) for p in _attributes(node)["perm"]]
    if perm[0] != 0:
        raise ModelError(f"ONNX Transpose that moves the batch axis ({perm}) is not supported.")
    return _Value(keras.layers.Permute(tuple(perm[1:]))(builder.value(node.input[0], False)), False)


def _pad(builder: _Builder, node: Any, out: str) -> _Value:
    attributes = _attributes(node)
    pads = attributes.get("pads")
    if pads is None:
        pads = builder.constants[node.input[1]]
    pads = [int(p) for p in pads]
    value = float(builder.constants[node.input[2]]) if len(node.input) > 2 and node.input[2] else 0.0
    half = len(pads) // 2
    if (
        attributes.get("mode", "constant") != "constant"
        or value != 0.0
        or half != 4
        or any(pads[i] for i in (0, 1, 4, 5))
    ):
        raise ModelError(
            f"ONNX Pad {pads} ({node.name or out!r}): only zero padding of an image's height and width is supported."
        )
    padding = ((pads[2], pads[6]), (pads[3], pads[7]))
    return _Value(keras.layers.ZeroPadding2D(padding)(builder.value(node.input[0], True)), True)


def _activation(builder: _Builder, node: Any, out: str) -> _Value:
    held = builder.values[node.input[0]]
    layer = {
        "Relu": lambda: keras.layers.ReLU(),
        "LeakyRelu": lambda: keras.layers.LeakyReLU(negative_slope=float(_attributes(node).get("alpha", 0.01))),
        "Sigmoid": lambda: keras.layers.Activation("sigmoid"),
        "Tanh": lambda: keras.layers.Activation("tanh"),
    }[node.op_type]()
    return _Value(layer(held.tensor), held.channels_last)


_BUILDERS: dict[str, Callable[[_Builder, Any, str], _Value]] = {
    **dict.fromkeys(("Add", "Sub", "Mul", "Div"), _elementwise),
    **dict.fromkeys(("Gemm", "MatMul"), _dense),
    **dict.fromkeys(("Relu", "LeakyRelu", "Sigmoid", "Tanh"), _activation),
    **dict.fromkeys(("MaxPool", "AveragePool"), _pool),
    **dict.fromkeys(("Flatten", "Reshape"), _reshape),
    "Conv": _conv,
    "BatchNormalization": _batch_norm,
    "Transpose": _transpose,
    "Pad": _pad,
}


def _read(source: Any) -> Any:
    onnx, _ = _onnx()
    if not isinstance(source, (str, os.PathLike)):
        return source
    if not os.path.isfile(source):
        raise ConfigError(f"No ONNX file at {os.fspath(source)!r}.")
    try:
        return onnx.load(os.fspath(source))
    except Exception as error:
        raise ConfigError(f"Could not read {os.fspath(source)!r} as an ONNX model: {error}") from error


def load_onnx(source: str | os.PathLike | Any) -> OnnxModel:
    """The Keras twin of an ONNX model (a path or a loaded ``ModelProto``); see the module docstring."""
    _, numpy_helper = _onnx()
    proto = _read(source)
    graph = proto.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelError(
            "robustkit reads ONNX models with one input and one output; "
            f"this one has {len(inputs)} and {len(graph.output)}."
        )
    shape = tuple(int(d.dim_value) for d in inputs[0].type.tensor_type.shape.dim)
    builder = _Builder(constants)
    held = shape[1:] if len(shape) != 4 else (shape[2], shape[3], shape[1])
    model_input = keras.Input(tuple(max(1, d) for d in held))
    builder.values[inputs[0].name] = _Value(model_input, len(shape) == 4)
    for node in graph.node:
        out = node.output[0]
        if node.op_type == "Constant":
            constants[out] = _attributes(node)["value"]
        elif node.op_type in ("Identity", "Dropout"):
            builder.values[out] = builder.values[node.input[0]]
        elif node.op_type not in _BUILDERS:
            raise ModelError(
                f"ONNX operator {node.op_type} ({node.name or out!r}) is not supported. Supported: {OPERATORS}."
            )
        else:
            builder.values[out] = _BUILDERS[node.op_type](builder, node, out)
    output = builder.value(graph.output[0].name, False)
    return OnnxModel(keras.Model(model_input, output), shape)

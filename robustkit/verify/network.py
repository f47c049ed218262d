"""A Keras model as a graph of operations whose bounds can be propagated.

Bound propagation needs to know what each layer does to a set of inputs, not only to one input.
:func:`network_of` walks a Sequential or functional model from its output back to its input and
turns every layer into one or two nodes of four kinds:

- ``affine``: Dense, Conv1D/2D, BatchNormalization (inference), Rescaling, Normalization, Flatten,
  Reshape, average pooling, padding and cropping, and the layers that are the identity at inference
  (Dropout and its kin, GaussianNoise); a Dense or Conv layer with an activation gives an affine
  node followed by an activation node;
- ``activation``: an elementwise non-decreasing function (ReLU, LeakyReLU, ELU, sigmoid, tanh, ...);
- ``add``: the sum of its inputs (residual blocks);
- ``maxpool``: max pooling, monotone in each input.

A final softmax is dropped: the bounds are on the logits, whose argmax is the same. A binary
classifier with one output loses its final sigmoid too, and gains an affine node that maps its logit
``z`` to the two logits ``[0, z]`` (:func:`robustkit.logits.two_logits`), so that the margins of the
bounds are those that the attacks read. Any other layer raises a
:class:`~robustkit.errors.ModelError` that names it.

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    >>> [node.kind for node in network_of(model).nodes]
    ['input', 'affine', 'activation', 'affine']
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

from robustkit.errors import ModelError
from robustkit.logits import two_logits

SUPPORTED_LAYERS = (
    "Dense, Conv1D, Conv2D, BatchNormalization, Rescaling, Normalization, Flatten, Reshape, "
    "AveragePooling1D/2D, GlobalAveragePooling1D/2D, MaxPooling1D/2D, GlobalMaxPooling1D/2D, ZeroPadding, "
    "Cropping, Add, Dropout (and its kin), GaussianNoise, Activation, ReLU, LeakyReLU, ELU, Softmax (last only)"
)
# Elementwise activations that never decrease: their interval is [f(lower), f(upper)].
MONOTONE_ACTIVATIONS = frozenset(
    ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus"]
    + ["softsign", "exponential", "hard_tanh"]
)
_IDENTITY_AT_INFERENCE = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
)
_POSITIVE_LINEAR = (  # linear maps with non-negative weights: the layer itself also maps radii
    "Flatten",
    "Reshape",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Cropping1D",
    "Cropping2D",
)
_MAX_POOLING = ("MaxPooling1D", "MaxPooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D")


@dataclass(frozen=True)
class Node:
    """One operation of a :class:`Network`.

    ``apply`` computes the operation on a batch (an affine node's includes its bias); an affine node's
    ``abs_linear`` maps a batch of interval radii through the linear part with absolute weights; an
    activation node's ``relu_slope`` is its slope below zero when it is a (leaky) ReLU, else None.
    """

    name: str
    kind: str
    inputs: tuple[int, ...]
    apply: Callable[..., tf.Tensor] = field(repr=False)
    abs_linear: Callable[[tf.Tensor], tf.Tensor] | None = field(default=None, repr=False)
    relu_slope: float | None = None


@dataclass(eq=False)  # compared and hashed by identity: compiled functions are cached per network
class Network:
    """The nodes of a model in topological order: ``nodes[0]`` is the input, ``nodes[-1]`` the logits."""

    nodes: list[Node]
    shapes: list[tuple[int, ...]]  # each node's output shape, without the batch axis

    @property
    def output(self) -> int:
        return len(self.nodes) - 1

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        """The network's output at ``x``: the model's logits (less a final softmax; ``[0, z]`` for one output)."""
        values = [x]
        for node in self.nodes[1:]:
            values.append(node.apply(*[values[i] for i in node.inputs]))
        return values[-1]


def _unsupported(layer: Any, why: str = "") -> ModelError:
    return ModelError(
        f"Bounds cannot be propagated through layer {layer.name!r} ({type(layer).__name__}){why}. "
        f"Supported layers: {SUPPORTED_LAYERS}. Evaluate this model with attacks, or with randomized "
        "smoothing, which work with any model."
    )


def _reader(layer: Any, name: str) -> Callable[[], tf.Tensor | None]:
    """Reads a layer's variable when called, so that a network stays current as its model trains (and a
    compiled function reads it at every call)."""
    variable = getattr(layer, name, None)
    return lambda: None if variable is None else tf.convert_to_tensor(variable)


def _dense(layer: Any) -> tuple[Callable, Callable]:
    kernel, bias = _reader(layer, "kernel"), _reader(layer, "bias")

    def apply(x: tf.Tensor) -> tf.Tensor:
        out = tf.tensordot(x, kernel(), axes=[[x.shape.rank - 1], [0]])
        offset = bias()
        return out if offset is None else out + offset

    return apply, lambda r: tf.tensordot(r, tf.abs(kernel()), axes=[[r.shape.rank - 1], [0]])


def _conv(layer: Any) -> tuple[Callable, Callable]:
    if getattr(layer, "data_format", "channels_last") != "channels_last" or getattr(layer, "groups", 1) != 1:
        raise _unsupported(layer, " with channels_first data or groups")
    if layer.padding not in ("valid", "same"):
        raise _unsupported(layer, f" with padding {layer.padding!r}")
    kernel, bias = _reader(layer, "kernel"), _reader(layer, "bias")
    settings = {"strides": layer.strides, "padding": layer.padding.upper(), "dilations": layer.dilation_rate}

    def apply(x: tf.Tensor) -> tf.Tensor:
        out = tf.nn.convolution(x, kernel(), **settings)
        offset = bias()
        return out if offset is None else out + offset

    return apply, lambda r: tf.nn.convolution(r, tf.abs(kernel()), **settings)


def _batch_norm(layer: Any) -> tuple[Callable, Callable]:
    mean, variance = _reader(layer, "moving_mean"), _reader(layer, "moving_variance")
    gamma, beta = _reader(layer, "gamma"), _reader(layer, "beta")

    def scale_and_shift(rank: int) -> tuple[tf.Tensor, tf.Tensor]:
        scale = tf.math.rsqrt(variance() + layer.epsilon)
        if layer.scale:
            scale = scale * gamma()
        shift = (beta() if layer.center else 0.0) - mean() * scale
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
        shape = [1] * rank
        shape[axis] = -1
        return tf.reshape(scale, shape), tf.reshape(shift, shape)

    def apply(x: tf.Tensor) -> tf.Tensor:
        scale, shift = scale_and_shift(x.shape.rank)
        return x * scale + shift

    return apply, lambda r: r * tf.abs(scale_and_shift(r.shape.rank)[0])


def _scaling(layer: Any) -> tuple[Callable, Callable]:
    name = type(layer).__name__
    if name == "Rescaling":
        scale, offset = tf.constant(layer.scale, tf.float32), tf.constant(layer.offset, tf.float32)
        return lambda x: x * scale + offset, lambda r: r * tf.abs(scale)
    if getattr(layer, "invert", False):
        raise _unsupported(layer, " with invert=True")
    mean, variance = _reader(layer, "mean"), _reader(layer, "variance")

    def spread() -> tf.Tensor:
        return tf.maximum(tf.sqrt(variance()), keras.config.epsilon())

    return lambda x: (x - mean()) / spread(), lambda r: r / spread()


def _activation_node(layer: Any, fn: Any, inputs: tuple[int, ...]) -> Node:
    """A node for an elementwise activation, or an error if it can decrease."""
    name = getattr(fn, "__name__", type(fn).__name__)
    if name not in MONOTONE_ACTIVATIONS:
        raise _unsupported(layer, f": its activation {name!r} is not monotone")
    slope = 0.0 if name == "relu" else None
    return Node(layer.name, "activation", inputs, fn, relu_slope=slope)


def _activation_layer(layer: Any, inputs: tuple[int, ...]) -> Node:
    name = type(layer).__name__
    if name == "Activation":
        return _activation_node(layer, layer.activation, inputs)
    if name == "ELU" and float(layer.alpha) < 0:
        raise _unsupported(layer, " with a negative alpha")
    piecewise_linear = name == "LeakyReLU" or (name == "ReLU" and layer.max_value is None and not layer.threshold)
    slope: float | None = float(layer.negative_slope) if piecewise_linear else None
    if slope is not None and slope < 0:
        raise _unsupported(layer, " with a negative slope")
    if slope is not None and slope > 1:
        slope = None  # concave above slope 1: the (convex) ReLU relaxation would not bound it
    return Node(layer.name, "activation", inputs, lambda x: layer(x), relu_slope=slope)


def _layer_nodes(layer: Any, inputs: tuple[int, ...]) -> list[Node]:
    """The node(s) of one layer; an affine node's activation (if any) comes as a second node."""
    name = type(layer).__name__
    if name in ("Dense", "Conv1D", "Conv2D"):
        apply, abs_linear = _dense(layer) if name == "Dense" else _conv(layer)
        nodes = [Node(layer.name, "affine", inputs, apply, abs_linear)]
        activation = getattr(layer, "activation", None)
        if activation is not None and getattr(activation, "__name__", "") != "linear":
            nodes.append(_activation_node(layer, activation, (-1,)))  # -1: the node just before
        return nodes
    if name == "BatchNormalization":
        return [Node(layer.name, "affine", inputs, *_batch_norm(layer))]
    if name in ("Rescaling", "Normalization"):
        return [Node(layer.name, "affine", inputs, *_scaling(layer))]
    if name in _IDENTITY_AT_INFERENCE:
        return [Node(layer.name, "affine", inputs, tf.identity, tf.identity)]
    if name in _POSITIVE_LINEAR:
        return [Node(layer.name, "affine", inputs, lambda x: layer(x), lambda r: layer(r))]
    if name in _MAX_POOLING:
        return [Node(layer.name, "maxpool", inputs, lambda x: layer(x))]
    if name == "Add":
        return [Node(layer.name, "add", inputs, lambda *xs: tf.add_n(list(xs)))]
    if name in ("Activation", "ReLU", "LeakyReLU", "ELU"):
        return [_activation_layer(layer, inputs)]
    raise _unsupported(layer)


def _is_softmax(layer: Any) -> bool:
    activation = getattr(layer, "activation", None)
    return type(layer).__name__ == "Softmax" or getattr(activation, "__name__", "") in ("softmax", "log_softmax")


def _is_final_squash(layer: Any, tensor: Any) -> bool:
    """A softmax, or the sigmoid of a one-output binary classifier: dropped at the end, argmax unchanged."""
    sigmoid = getattr(getattr(layer, "activation", None), "__name__", "") == "sigmoid"
    return _is_softmax(layer) or (sigmoid and tuple(tensor.shape[1:]) == (1,))


class _Walk:
    """Builds the nodes of a functional graph from its output tensor back to its input."""

    def __init__(self, model_input: Any) -> None:
        self.model_input = model_input
        self.nodes: list[Node] = []
        self.index: dict[int, int] = {}  # id of a Keras tensor -> its node

    def add(self, nodes: list[Node]) -> int:
        for node in nodes:
            inputs = tuple(len(self.nodes) - 1 if i == -1 else i for i in node.inputs)
            self.nodes.append(Node(node.name, node.kind, inputs, node.apply, node.abs_linear, node.relu_slope))
        return len(self.nodes) - 1

    def visit(self, tensor: Any, last: bool = False) -> int:
        if id(tensor) in self.index:
            return self.index[id(tensor)]
        layer, node_index, _ = tensor._keras_history
        if isinstance(layer, keras.layers.InputLayer):
            if tensor is not self.model_input:
                raise ModelError(f"Bounds need a model with one input; {layer.name!r} is another.")
            found = self.add([Node(layer.name, "input", (), tf.identity)])
        else:
            arguments = layer._inbound_nodes[node_index].input_tensors
            if isinstance(layer, keras.Model):
                found = self.nested(layer, arguments, last)
            elif last and _is_final_squash(layer, tensor) and type(layer).__name__ in ("Softmax", "Activation"):
                found = self.visit(arguments[0])
            else:
                inputs = tuple(self.visit(argument) for argument in arguments)
                squashed = last and _is_final_squash(layer, tensor)
                found = self.add(_affine_only(layer, inputs) if squashed else _layer_nodes(layer, inputs))
        self.index[id(tensor)] = found
        return found

    def nested(self, model: Any, arguments: list, last: bool) -> int:
        if len(arguments) != 1 or len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ModelError(f"Bounds need nested models with one input and one output; {model.name!r} has more.")
        self.index[id(model.inputs[0])] = self.visit(arguments[0])
        return self.visit(model.outputs[0], last)


def _affine_only(layer: Any, inputs: tuple[int, ...]) -> list[Node]:
    """The affine node of a last Dense or Conv layer whose softmax is dropped."""
    if type(layer).__name__ not in ("Dense", "Conv1D", "Conv2D"):
        raise _unsupported(layer)
    apply, abs_linear = _dense(layer) if type(layer).__name__ == "Dense" else _conv(layer)
    return [Node(layer.name, "affine", inputs, apply, abs_linear)]


_NETWORKS: weakref.WeakKeyDictionary[Any, Network] = weakref.WeakKeyDictionary()


def network_of(model: Any) -> Network:
    """The :class:`Network` of a Keras model with one input and one output (see the module docstring).

    Cached per model: its nodes read the model's variables at every call, so it follows training.
    """
    try:
        cached = _NETWORKS.get(model)
    except TypeError:
        cached = None
    if cached is None:
        cached = _walk_model(model)
        try:
            _NETWORKS[model] = cached
        except TypeError:
            pass
    return cached


def _walk_model(model: Any) -> Network:
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if not isinstance(model, keras.Model) or not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            "Bounds need a built Keras model with one input and one output (a Sequential model that starts "
            f"with keras.Input, or a functional model); got {type(model).__name__}."
        )
    shape = tuple(inputs[0].shape[1:])
    if any(size is None for size in shape):
        raise ModelError(f"Bounds need a fixed input shape; the model's is {(None, *shape)}.")
    walk = _Walk(inputs[0])
    walk.visit(outputs[0], last=True)
    if walk.nodes[0].kind != "input":
        raise ModelError("The model's output does not depend on its input.")
    if tuple(outputs[0].shape[1:]) == (1,):  # a binary classifier's logit z: the two logits [0, z]
        zeros_beside = lambda r: tf.concat([tf.zeros_like(r), r], axis=-1)  # noqa: E731
        walk.add([Node("two-logits", "affine", (len(walk.nodes) - 1,), two_logits, zeros_beside)])
    values = [tf.zeros((1, *shape), inputs[0].dtype)]
    for node in walk.nodes[1:]:
        values.append(node.apply(*[values[i] for i in node.inputs]))
    return Network(walk.nodes, [tuple(int(d) for d in value.shape[1:]) for value in values])

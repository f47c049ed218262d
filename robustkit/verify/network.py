"""A Keras model as a graph of operations whose bounds can be propagated.

Bound propagation needs to know what each layer does to a set of inputs, not only to one input.
:func:`network_of` walks a Sequential or functional model from its output back to its input and
turns every layer into one or two nodes, each with its bound rule (:mod:`robustkit.verify.rules`):

- ``affine``: Dense, Conv1D/2D, BatchNormalization (inference), Rescaling, Normalization, Flatten,
  Reshape, average pooling, padding and cropping, and the layers that are the identity at inference
  (Dropout and its kin, GaussianNoise); a Dense or Conv layer with an activation gives an affine
  node followed by an activation node;
- ``activation``: an elementwise non-decreasing function (ReLU, LeakyReLU, ELU, sigmoid, tanh, ...);
- ``add``: the sum of its inputs (residual blocks);
- ``maxpool``: max pooling, monotone in each input.

Which rule a layer takes is registered by Keras class (:mod:`robustkit.verify.layer_rules`) and found
by the layer's class hierarchy, so a subclass of a supported layer is supported, once a random input
shows that it computes what its base class does.

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
from robustkit.verify.layer_rules import LinearWithActivation, rule_for, unsupported
from robustkit.verify.rules import AffineRule, BoundRule, InputRule


@dataclass(frozen=True)
class Node:
    """One operation of a :class:`Network`: its bound rule (:mod:`robustkit.verify.rules`) and the
    indices of the nodes it reads."""

    name: str
    rule: BoundRule = field(repr=False)
    inputs: tuple[int, ...]

    @property
    def kind(self) -> str:
        return self.rule.kind

    def apply(self, *inputs: tf.Tensor) -> tf.Tensor:
        return self.rule.apply(*inputs)


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


def _probe(tensor: Any, seed: int) -> tf.Tensor:
    """A random input of the tensor's shape (one example), in its float dtype (bounds are on floats)."""
    shape = [1 if d is None else int(d) for d in tensor.shape]
    dtype = tf.as_dtype(tensor.dtype)
    return tf.random.stateless_normal(shape, (seed, 7), dtype=dtype if dtype.is_floating else tf.float32)


def _check_subclass(layer: Any, computed: Callable[..., tf.Tensor], arguments: list, registered: tuple) -> None:
    """A subclass of a supported layer is bounded by its base class's rule: refuse it if its own call
    computes something else (on random inputs), since the bounds would then not hold for it."""
    if type(layer) in registered:
        return
    probes = [_probe(argument, seed) for seed, argument in enumerate(arguments)]
    expected = tf.cast(layer(probes if len(probes) > 1 else probes[0]), tf.float64)
    found = tf.cast(computed(*probes), tf.float64)
    scale = 1.0 + float(tf.reduce_max(tf.abs(expected)))
    if found.shape != expected.shape or float(tf.reduce_max(tf.abs(found - expected))) > 1e-4 * scale:
        base = next(cls.__name__ for cls in type(layer).__mro__ if cls in registered)
        raise ModelError(
            f"Layer {layer.name!r} ({type(layer).__name__}) subclasses {base} but computes something else, so "
            f"{base}'s bounds would not hold for it. Register a rule for it in robustkit.verify.layer_rules, "
            "or evaluate this model with attacks or randomized smoothing."
        )


def _layer_nodes(layer: Any, inputs: tuple[int, ...], arguments: list, squashed: bool = False) -> list[Node]:
    """The node(s) of one layer; a second node (an affine layer's activation) reads the one before it.
    ``squashed``: the model's last layer, whose softmax (or one output's sigmoid) is dropped."""
    found = rule_for(layer)
    if squashed:
        if not isinstance(found, LinearWithActivation):
            raise unsupported(layer, ": a final softmax or sigmoid is dropped only from Dense or Conv layers")
        linear = found.linear(layer)
        _check_subclass(layer, lambda *x: layer.activation(linear.apply(*x)), arguments, found.keras_classes)
        return [Node(layer.name, linear, inputs)]
    rules = found.rules(layer)

    def computed(*x: tf.Tensor) -> tf.Tensor:
        value = rules[0].apply(*x)
        for rule in rules[1:]:
            value = rule.apply(value)
        return value

    _check_subclass(layer, computed, arguments, found.keras_classes)
    return [Node(layer.name, rule, inputs if i == 0 else (-1,)) for i, rule in enumerate(rules)]  # -1: the node before


_SQUASH_LAYERS = (keras.layers.Softmax, keras.layers.Activation)  # dropped whole when last


def _is_softmax(layer: Any) -> bool:
    activation = getattr(layer, "activation", None)
    return isinstance(layer, keras.layers.Softmax) or getattr(activation, "__name__", "") in ("softmax", "log_softmax")


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
            self.nodes.append(Node(node.name, node.rule, inputs))
        return len(self.nodes) - 1

    def visit(self, tensor: Any, last: bool = False) -> int:
        if id(tensor) in self.index:
            return self.index[id(tensor)]
        layer, node_index, _ = tensor._keras_history
        if isinstance(layer, keras.layers.InputLayer):
            if tensor is not self.model_input:
                raise ModelError(f"Bounds need a model with one input; {layer.name!r} is another.")
            found = self.add([Node(layer.name, InputRule(layer.name), ())])
        else:
            arguments = layer._inbound_nodes[node_index].input_tensors
            if isinstance(layer, keras.Model):
                found = self.nested(layer, arguments, last)
            elif (
                last
                and _is_final_squash(layer, tensor)
                and isinstance(layer, (keras.layers.Softmax, keras.layers.Activation))
            ):
                found = self.visit(arguments[0])
            else:
                inputs = tuple(self.visit(argument) for argument in arguments)
                found = self.add(_layer_nodes(layer, inputs, arguments, last and _is_final_squash(layer, tensor)))
        self.index[id(tensor)] = found
        return found

    def nested(self, model: Any, arguments: list, last: bool) -> int:
        if len(arguments) != 1 or len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ModelError(f"Bounds need nested models with one input and one output; {model.name!r} has more.")
        self.index[id(model.inputs[0])] = self.visit(arguments[0])
        return self.visit(model.outputs[0], last)


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
    if not isinstance(walk.nodes[0].rule, InputRule):
        raise ModelError("The model's output does not depend on its input.")
    if tuple(outputs[0].shape[1:]) == (1,):  # a binary classifier's logit z: the two logits [0, z]
        zeros_beside = lambda r: tf.concat([tf.zeros_like(r), r], axis=-1)  # noqa: E731
        walk.add([Node("two-logits", AffineRule("two-logits", two_logits, zeros_beside), (len(walk.nodes) - 1,))])
    values = [tf.zeros((1, *shape), inputs[0].dtype)]
    for node in walk.nodes[1:]:
        values.append(node.apply(*[values[i] for i in node.inputs]))
    return Network(walk.nodes, [tuple(int(d) for d in value.shape[1:]) for value in values])

"""How bounds pass one operation: its interval rule, its linear (CROWN) rule and its MILP encoding.

A :class:`~robustkit.verify.network.Network` is a list of nodes, each holding one :class:`BoundRule`.
The interval propagation, CROWN and the exact verifier ask the rule and never the layer's type, so
an operation is described in one place. Four generic rules cover every supported layer
(:mod:`robustkit.verify.layer_rules` binds each Keras layer class to one of them):

- :class:`AffineRule`: ``z = W x + b``. The interval maps the center through the layer and the radius
  through its absolute weights; CROWN carries ``spec W`` back by a vector-Jacobian product; the
  program holds the equality rows of ``W`` read off the same way.
- :class:`AddRule`: the sum of its inputs, exact in all three.
- :class:`ReluRule`: ``max(x, slope x)`` with ``0 <= slope <= 1``. CROWN takes the lower line through
  the origin (slope 1 when ``u >= -l``, else the negative slope: the adaptive choice) and the chord
  above; the program takes one binary variable and big-M rows for each neuron whose interval straddles 0.
- :class:`MonotoneRule`: any function non-decreasing in every input (sigmoid, tanh, max pooling): its
  interval is ``[f(l), f(u)]``, CROWN bounds it by those constants, and the program cannot encode it.

Example:
    >>> import tensorflow as tf
    >>> relu = ReluRule("relu", 0.0, tf.nn.relu)
    >>> [t.numpy().tolist() for t in relu.interval([(tf.constant([-1.0, 2.0]), tf.constant([3.0, 4.0]))])]
    [[0.0, 2.0], [3.0, 4.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import tensorflow as tf

from robustkit.gradients import vector_jacobian_product

Interval = tuple[tf.Tensor, tf.Tensor]
Shape = tuple[int, ...]


def per_row(values: tf.Tensor) -> tf.Tensor:
    """Sum over every axis but the first two (example, row of the specification)."""
    return tf.reduce_sum(tf.reshape(values, (tf.shape(values)[0], tf.shape(values)[1], -1)), axis=-1)


class BoundRule:
    """One operation as bound propagation sees it; subclasses give the three rules.

    Args:
        name: the layer's name, for messages.
    """

    kind: str = "operation"
    exact_through: ClassVar[bool] = False  # its output interval can be narrowed by CROWN (affine, add)
    relaxes_input: ClassVar[bool] = False  # its linear rule reads its input's interval (ReLU)
    milp_unsupported: str | None = None  # why the exact verifier cannot encode it, if it cannot

    def __init__(self, name: str) -> None:
        self.name = name

    def apply(self, *inputs: tf.Tensor) -> tf.Tensor:
        """The operation on a batch."""
        raise NotImplementedError

    def interval(self, inputs: list[Interval]) -> Interval:
        """An interval holding the output for every input inside the inputs' intervals."""
        raise NotImplementedError

    def linear(
        self,
        coefficients: tf.Tensor,
        inputs: list[Interval | None],
        own: Interval | None,
        input_shapes: list[Shape],
    ) -> tuple[list[tf.Tensor | None], tf.Tensor]:
        """CROWN's step back: for ``coefficients . z`` (shape ``(batch, rows, *output shape)``), the
        coefficients on each input (None: none) and a bias per example and row such that
        ``coefficients . z >= sum(new . input) + bias`` over the intervals. ``inputs`` and ``own``: the
        intervals of its inputs and its own, None where not known (the node being bounded)."""
        raise NotImplementedError

    def encode(self, program: Any, k: int, intervals: list[Interval], cache: dict) -> None:
        """Add node ``k``'s rows to a mixed-integer program (:mod:`robustkit.verify.exact`)."""
        raise ValueError(f"{self.name!r} cannot be encoded: {self.milp_unsupported}")


class AffineRule(BoundRule):
    """``z = W x + b``, given the map itself and ``abs_linear``, the linear part with absolute weights.

    Args:
        name: the layer's name.
        apply: the map on a batch, bias included.
        abs_linear: a batch of radii through the linear part with ``|W|``.
    """

    kind = "affine"
    exact_through = True

    def __init__(self, name: str, apply: Callable[[tf.Tensor], tf.Tensor], abs_linear: Callable) -> None:
        super().__init__(name)
        self._apply, self.abs_linear = apply, abs_linear

    def apply(self, *inputs: tf.Tensor) -> tf.Tensor:
        return self._apply(*inputs)

    def interval(self, inputs: list[Interval]) -> Interval:
        ((lower, upper),) = inputs
        center = self.apply((lower + upper) / 2)
        radius = self.abs_linear((upper - lower) / 2)
        return center - radius, center + radius

    def backward(self, coefficients: tf.Tensor, input_shape: Shape) -> tuple[tf.Tensor, tf.Tensor]:
        """``(spec W, spec . b)`` for ``coefficients`` of shape ``(batch, rows, *output shape)``."""
        batch, rows = tf.shape(coefficients)[0], tf.shape(coefficients)[1]
        flat = tf.reshape(coefficients, tf.concat([[batch * rows], tf.shape(coefficients)[2:]], axis=0))
        zeros = tf.zeros(tf.concat([[batch * rows], input_shape], axis=0), coefficients.dtype)
        backward = vector_jacobian_product(self.apply, zeros, flat)
        offset = self.apply(tf.zeros((1, *input_shape), coefficients.dtype))  # f(0) = b
        backward = tf.reshape(backward, tf.concat([[batch, rows], input_shape], axis=0))
        return backward, per_row(coefficients * offset[None])

    def linear(self, coefficients, inputs, own, input_shapes):
        backward, offset = self.backward(coefficients, input_shapes[0])
        return [backward], offset

    def encode(self, program, k, intervals, cache):
        if k not in cache:
            cache[k] = program.affine_matrix(self, k)
        program.affine(k, *cache[k])


class AddRule(BoundRule):
    """The sum of its inputs (a residual connection)."""

    kind = "add"
    exact_through = True

    def apply(self, *inputs: tf.Tensor) -> tf.Tensor:
        return tf.add_n(list(inputs))

    def interval(self, inputs: list[Interval]) -> Interval:
        return tf.add_n([lower for lower, _ in inputs]), tf.add_n([upper for _, upper in inputs])

    def linear(self, coefficients, inputs, own, input_shapes):
        return [coefficients] * len(inputs), tf.zeros(tf.shape(coefficients)[:2], coefficients.dtype)

    def encode(self, program, k, intervals, cache):
        program.sum(k)


class MonotoneRule(BoundRule):
    """A function non-decreasing in every input, bounded by its values at the interval's ends.

    Args:
        name: the layer's name.
        apply: the function on a batch.
        kind: ``"activation"`` or ``"maxpool"``.
    """

    def __init__(self, name: str, apply: Callable[[tf.Tensor], tf.Tensor], kind: str = "activation") -> None:
        super().__init__(name)
        self._apply, self.kind = apply, kind
        self.milp_unsupported = "max pooling" if kind == "maxpool" else "a smooth activation"

    def apply(self, *inputs: tf.Tensor) -> tf.Tensor:
        return self._apply(*inputs)

    def interval(self, inputs: list[Interval]) -> Interval:
        ((lower, upper),) = inputs
        return self.apply(lower), self.apply(upper)

    def linear(self, coefficients, inputs, own, input_shapes):
        if own is None:
            raise ValueError(f"{self.name!r}: a monotone node is bounded by its own interval, which is not known")
        low, high = own
        positive, negative = tf.maximum(coefficients, 0.0), tf.minimum(coefficients, 0.0)
        return [None], per_row(positive * low[:, None] + negative * high[:, None])


def relu_lines(slope: float, lower: tf.Tensor, upper: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(lower slope, upper slope, upper intercept)`` of a leaky ReLU ``max(x, slope x)`` on ``[l, u]``;
    both lines pass through the origin but the upper one on a straddling interval."""
    active, inactive = lower >= 0, upper <= 0
    value_low, value_high = tf.maximum(lower, slope * lower), tf.maximum(upper, slope * upper)
    width = tf.where(active | inactive, tf.ones_like(upper), upper - lower)
    chord = (value_high - value_low) / width
    stable_slope = tf.where(active, tf.ones_like(lower), slope * tf.ones_like(lower))
    straddling = ~(active | inactive)
    lower_slope = tf.where(straddling, tf.where(upper >= -lower, 1.0, slope) * tf.ones_like(lower), stable_slope)
    upper_slope = tf.where(straddling, chord, stable_slope)
    intercept = tf.where(straddling, value_low - chord * lower, tf.zeros_like(lower))
    return lower_slope, upper_slope, intercept


class ReluRule(MonotoneRule):
    """A (leaky) ReLU ``max(x, slope x)``, ``0 <= slope <= 1``: monotone, and piecewise linear, so CROWN
    relaxes it by lines and the program encodes it exactly.

    Args:
        name: the layer's name.
        slope: the slope below zero (0 for a ReLU).
        apply: the function on a batch (the layer's own, so that values match the model's bit for bit).
    """

    relaxes_input = True

    def __init__(self, name: str, slope: float, apply: Callable[[tf.Tensor], tf.Tensor]) -> None:
        super().__init__(name, apply)
        self.slope, self.milp_unsupported = float(slope), None

    def linear(self, coefficients, inputs, own, input_shapes):
        return self.relaxed(coefficients, inputs[0])

    def relaxed(
        self, coefficients: tf.Tensor, interval: Interval | None, chosen: tf.Tensor | None = None
    ) -> tuple[list[tf.Tensor | None], tf.Tensor]:
        """CROWN's step back with lower lines of slopes ``chosen`` (shape ``(batch, rows, *shape)``, one per
        neuron and row: alpha-CROWN's variables) on the neurons whose interval straddles 0, the adaptive
        slopes where None. A line through the origin lies below ``max(x, a x)`` exactly when its slope is
        in ``[a, 1]``, so ``chosen`` is clipped into it: any value gives a sound bound."""
        if interval is None:
            raise ValueError(f"{self.name!r}: a ReLU's relaxation needs its input's interval, which is not known")
        lower_slope, upper_slope, intercept = relu_lines(self.slope, *interval)
        lower_slope = lower_slope[:, None]
        if chosen is not None:
            straddling = ((interval[0] < 0) & (interval[1] > 0))[:, None]
            lower_slope = tf.where(straddling, tf.clip_by_value(chosen, self.slope, 1.0), lower_slope)
        positive, negative = tf.maximum(coefficients, 0.0), tf.minimum(coefficients, 0.0)
        backward = positive * lower_slope + negative * upper_slope[:, None]
        return [backward], per_row(negative * intercept[:, None])

    def encode(self, program, k, intervals, cache):
        low, high = (value.numpy().reshape(-1).astype("float64") for value in intervals[program.input_of(k)])
        program.relu(k, self.slope, low, high)


class InputRule(BoundRule):
    """The network's input: the region itself bounds it."""

    kind = "input"

    def apply(self, *inputs: tf.Tensor) -> tf.Tensor:
        return tf.identity(inputs[0])

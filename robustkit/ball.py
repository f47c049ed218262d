"""The last step of every attack: the returned example inside the ball and the bounds as its dtype represents them.

An attack iterates in float32 (or float64) and its last point is rounded to the input's dtype. Rounding
to the nearest number can move a coordinate *away* from x: near 33,000 the float32 spacing is 1/256,
so ``x + 0.1`` becomes ``x + 0.1015625``, outside the L-inf ball of radius 0.1; a float16 cast does the
same at every magnitude. :func:`settle` re-rounds each such coordinate toward x, so that the returned
example satisfies, with the difference ``x_adv - x`` computed in float64 from the returned arrays:

- ``||x_adv - x|| <= eps`` in the attack's norm (the norm accumulated in float64),
- ``lower <= x_adv <= upper`` (bounds that x itself exceeds by a rounding are widened to x),

and no coordinate moves farther from x than the attack's own iterate did. The difference rounded to
the input's dtype obeys the same bound: under L-inf because rounding is monotone, under L2 and L1
because a point the attack left outside is shrunk with room for that rounding.

Example:
    >>> import numpy as np, tensorflow as tf
    >>> x = tf.constant([[33000.0]])
    >>> nearest = x + 0.1  # the nearest float32 lies away from x
    >>> float(nearest[0, 0] - x[0, 0])
    0.1015625
    >>> float(settle(x, nearest, 0.1, "linf", np.array(0.0), np.array(1e5))[0, 0] - x[0, 0])
    0.09765625
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.norms import Norm, get_norm

_BITS = {tf.float16: tf.int16, tf.bfloat16: tf.int16, tf.float32: tf.int32, tf.float64: tf.int64}
_UNIT_ROUNDOFF = {tf.float16: 2.0**-11, tf.bfloat16: 2.0**-8, tf.float32: 2.0**-24, tf.float64: 2.0**-53}
_ROUNDS = 2  # re-roundings before falling back to x; one always suffices when float64 holds the iterate


def step_toward(value: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The neighbour of each ``value`` in its dtype on the side of ``target`` (``value`` where they are equal).

    Works on the bit patterns, so float16 and bfloat16 step by their own spacing.

    Example:
        >>> import tensorflow as tf
        >>> step_toward(tf.constant([1.0, -1.0], tf.float16), tf.constant([0.0, 0.0], tf.float16)).numpy().tolist()
        [0.99951171875, -0.99951171875]
    """
    int_type = _BITS[value.dtype]
    bits = tf.bitcast(value, int_type)
    # Floats are sign and magnitude: read as signed integers, one less is one step towards zero on either side.
    towards_zero = tf.where(value > target, value > 0, value < 0)
    moved = tf.where(towards_zero, bits - 1, bits + 1)
    smallest = tf.ones_like(bits)  # the smallest number of the sign of target, when value is zero
    smallest = tf.where(target < 0, smallest + tf.constant(np.iinfo(int_type.as_numpy_dtype).min, int_type), smallest)
    moved = tf.where(tf.equal(value, 0), smallest, moved)
    return tf.where(tf.equal(value, target), value, tf.bitcast(moved, value.dtype))


def norm_limit(eps: Any, dtype: Any, features: Any) -> Any:
    """The largest L2/L1 norm left as it is: eps less headroom for rounding the difference to ``dtype``
    (half its spacing, relative) and for the float64 accumulation of a norm over ``features`` numbers."""
    roundoff = _UNIT_ROUNDOFF[tf.as_dtype(dtype)]
    return eps * (1.0 - roundoff - tf.maximum(tf.constant(2.0**-40, tf.float64), 4.0 * features * 2.0**-53))


def _allowed(norm: Norm, delta: tf.Tensor, eps: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """The largest move of each coordinate: ``delta`` shrunk into the ball (float64)."""
    if norm.name == "linf":
        radius = getattr(norm, "feature_radius", None)
        return tf.minimum(tf.abs(delta), eps if radius is None else eps * radius())
    size = norm.measure(delta)
    features = tf.cast(tf.reduce_prod(tf.shape(delta)[1:]), tf.float64)
    limit = norm_limit(eps, dtype, features)
    scale = tf.where(size > limit, limit / tf.maximum(size, 1e-300), tf.ones_like(size))
    return tf.abs(delta) * tf.reshape(scale, tf.concat([[-1], tf.ones([tf.rank(delta) - 1], tf.int32)], 0))


def linf_box(x: tf.Tensor, eps: tf.Tensor, lower: tf.Tensor, upper: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The smallest and largest numbers of x's dtype within eps of x and inside the bounds, per coordinate.

    ``eps``, ``lower`` and ``upper`` are float64; the bounds are widened to x where x exceeds them by a
    rounding. An L-inf attack that clips to this box never leaves the ball, at any magnitude.

    Example:
        >>> import tensorflow as tf
        >>> low, high = linf_box(tf.constant([33000.0]), tf.constant(0.1, tf.float64),
        ...                      tf.constant(0.0, tf.float64), tf.constant(1e5, tf.float64))
        >>> float(high[0]) - 33000.0, 33000.0 - float(low[0])
        (0.09765625, 0.09765625)
    """
    x64, eps = tf.cast(x, tf.float64), tf.cast(eps, tf.float64)
    low64 = tf.maximum(x64 - eps, tf.minimum(lower, x64))
    high64 = tf.minimum(x64 + eps, tf.maximum(upper, x64))
    low, high = tf.cast(low64, x.dtype), tf.cast(high64, x.dtype)
    # Rounding to the nearest number can land beyond the box: one step toward x brings it back.
    low = tf.where(tf.cast(low, tf.float64) < low64, step_toward(low, x), low)
    high = tf.where(tf.cast(high, tf.float64) > high64, step_toward(high, x), high)
    return low, high


def settle(
    x: tf.Tensor, x_adv: tf.Tensor, eps: float | tf.Tensor, norm: str | Norm, lower: np.ndarray, upper: np.ndarray
) -> tf.Tensor:
    """``x_adv`` (x's dtype) moved, where it must be, to the nearest number toward x inside the ball and bounds.

    Coordinates already inside are returned unchanged, bit for bit. A non-finite coordinate, or one
    that no re-rounding brings inside, returns x's own value (always inside).
    """
    ball = get_norm(norm)
    x64, adv64 = tf.cast(x, tf.float64), tf.cast(x_adv, tf.float64)
    low = tf.minimum(tf.constant(lower, tf.float64), x64)
    high = tf.maximum(tf.constant(upper, tf.float64), x64)
    delta = adv64 - x64  # exact for float16, bfloat16 and float32 inputs
    allowed = _allowed(ball, delta, tf.cast(eps, tf.float64), x.dtype)
    inside = (tf.abs(delta) <= allowed) & (adv64 >= low) & (adv64 <= high)  # NaN compares false: outside

    def re_round() -> tf.Tensor:
        target = tf.clip_by_value(x64 + tf.sign(delta) * allowed, low, high)
        settled = tf.where(tf.equal(target, adv64), x_adv, tf.cast(target, x.dtype))

        def outside(candidate: tf.Tensor) -> tf.Tensor:
            value = tf.cast(candidate, tf.float64)
            return tf.logical_not((tf.abs(value - x64) <= allowed) & (value >= low) & (value <= high))

        for _ in range(_ROUNDS):
            settled = tf.where(outside(settled), step_toward(settled, x), settled)
        return tf.where(outside(settled), x, settled)

    # Most batches are inside already, coordinate for coordinate: they skip the re-rounding.
    return tf.cond(tf.reduce_all(inside), lambda: x_adv, re_round)

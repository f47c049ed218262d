"""Random numbers keyed by each example, so that a draw does not depend on which other examples
share the batch (early stopping removes some of them as it goes).

A counter-based generator: each number is a 32-bit integer hash of (the example's key, a stream
number, a position), so any row can be drawn alone, in any batch, and gives the same value.

Example:
    >>> import tensorflow as tf
    >>> keys = row_keys(tf.constant([1, 2]), 3)
    >>> a = row_uniform(keys, 5, 4)
    >>> b = row_uniform(tf.gather(keys, [2]), 5, 4)    # the third row alone: the same numbers
    >>> bool(tf.reduce_all(a[2] == b[0])), bool(tf.reduce_all((a >= 0) & (a < 1)))
    (True, True)
"""

from __future__ import annotations

import tensorflow as tf

_MASK = 0xFFFFFFFF


def _hash(x: tf.Tensor) -> tf.Tensor:
    """A 32-bit integer mixing function (xor-shift-multiply) on int64 tensors kept below 2**32.

    Both multipliers are below 2**31, so no product overflows int64.
    """
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = tf.bitwise.bitwise_and(x * 0x7FEB352D, _MASK)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = tf.bitwise.bitwise_and(x * 0x4F6CDD1D, _MASK)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def row_keys(seed: tf.Tensor, batch: tf.Tensor | int) -> tf.Tensor:
    """One key per row of a batch, from a (2,) int32 seed and the row's position in the call."""
    seed = tf.bitwise.bitwise_and(tf.cast(seed, tf.int64), _MASK)
    base = _hash(tf.bitwise.bitwise_xor(_hash(seed[0]), seed[1]))
    return _hash(tf.bitwise.bitwise_xor(base, _hash(tf.range(tf.cast(batch, tf.int64)) + 0x9E3779B9)))


def row_uniform(keys: tf.Tensor, stream: tf.Tensor | int, count: int) -> tf.Tensor:
    """``(rows, count)`` float32 numbers uniform in [0, 1), a function of each row's key only."""
    stream_key = _hash(tf.bitwise.bitwise_xor(keys, _hash(tf.cast(stream, tf.int64) + 0x632BE5AB)))
    values = _hash(tf.bitwise.bitwise_xor(stream_key[:, None], tf.range(count, dtype=tf.int64)[None, :]))
    return tf.cast(tf.bitwise.right_shift(values, 8), tf.float32) / float(1 << 24)

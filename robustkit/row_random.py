"""Random numbers keyed by each example, so that a draw does not depend on which other examples
share the batch, how the data set was cut into batches or shards, or which examples early
stopping removed.

A counter-based generator: each number is a 32-bit integer hash of (the example's key, a stream
number, a position), so any row can be drawn alone, in any batch, and gives the same value. An
attack's key for an example is a hash of its seed and the example's index in the data set
(:func:`example_keys`); restarts and other independent runs derive their own keys with
:func:`mix_keys`.

Example:
    >>> import tensorflow as tf
    >>> keys = example_keys(7, [0, 1, 2])
    >>> a = row_uniform(keys, 5, 4)
    >>> b = row_uniform(example_keys(7, [2]), 5, 4)    # example 2 alone: the same numbers
    >>> bool(tf.reduce_all(a[2] == b[0])), bool(tf.reduce_all((a >= 0) & (a < 1)))
    (True, True)
"""

from __future__ import annotations

import tensorflow as tf

_MASK = 0xFFFFFFFF
_LANES = 16  # float32 numbers in the widest SIMD packet (AVX-512)


def _hash(x: tf.Tensor) -> tf.Tensor:
    """A 32-bit integer mixing function (xor-shift-multiply) on int64 tensors kept below 2**32.

    Both multipliers are below 2**31, so no product overflows int64.
    """
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = tf.bitwise.bitwise_and(x * 0x7FEB352D, _MASK)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = tf.bitwise.bitwise_and(x * 0x4F6CDD1D, _MASK)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def example_keys(seed: int | tf.Tensor, index) -> tf.Tensor:
    """One int64 key per example, from an attack's seed and the examples' indices in the data set."""
    index = tf.cast(tf.convert_to_tensor(index), tf.int64)
    seed = tf.bitwise.bitwise_and(tf.cast(seed, tf.int64), _MASK)
    base = _hash(_hash(seed) + 0x5BD1E995)
    low = tf.bitwise.bitwise_and(index, _MASK)
    high = tf.bitwise.bitwise_and(tf.bitwise.right_shift(index, 32), _MASK)
    position = _hash(tf.bitwise.bitwise_xor(_hash(tf.bitwise.bitwise_and(low + 0x9E3779B9, _MASK)), high))
    return _hash(tf.bitwise.bitwise_xor(base, position))


def mix_keys(keys: tf.Tensor, number: tf.Tensor | int) -> tf.Tensor:
    """Keys of an independent run (a restart, a target) derived from ``keys`` and its ``number``."""
    return _hash(tf.bitwise.bitwise_xor(keys, _hash(tf.cast(number, tf.int64) + 0x2545F491)))


def row_keys(seed: tf.Tensor, batch: tf.Tensor | int) -> tf.Tensor:
    """One key per row of a batch, from a (2,) int32 seed and the row's position in the batch
    (adversarial training, where batches are drawn afresh every step)."""
    seed = tf.bitwise.bitwise_and(tf.cast(seed, tf.int64), _MASK)
    base = _hash(tf.bitwise.bitwise_xor(_hash(seed[0]), seed[1]))
    return _hash(tf.bitwise.bitwise_xor(base, _hash(tf.range(tf.cast(batch, tf.int64)) + 0x9E3779B9)))


def row_uniform(keys: tf.Tensor, stream: tf.Tensor | int, count: tf.Tensor | int) -> tf.Tensor:
    """``(rows, count)`` float32 numbers uniform in [0, 1), a function of each row's key only."""
    stream_key = _hash(tf.bitwise.bitwise_xor(keys, _hash(tf.cast(stream, tf.int64) + 0x632BE5AB)))
    values = _hash(tf.bitwise.bitwise_xor(stream_key[:, None], tf.range(count, dtype=tf.int64)[None, :]))
    return tf.cast(tf.bitwise.right_shift(values, 8), tf.float32) / float(1 << 24)


def row_normal(keys: tf.Tensor, stream: tf.Tensor | int, count: tf.Tensor | int) -> tf.Tensor:
    """``(rows, count)`` float32 standard normal numbers (Box-Muller), a function of each row's key only."""
    u = row_uniform(keys, stream, count)
    v = row_uniform(mix_keys(keys, stream), 0x7F4A7C15, count)
    return rowwise(lambda u, v: tf.sqrt(-2.0 * tf.math.log(1.0 - u)) * tf.cos((2.0 * 3.141592653589793) * v), u, v)


def _hash32(x: tf.Tensor) -> tf.Tensor:
    """:func:`_hash` on uint32 tensors: their products wrap at 2**32 by themselves, so the same numbers
    come out (bit for bit) from half as many bits per lane and no masking."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(15, tf.uint32)))
    x = x * tf.constant(0x4F6CDD1D, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))


def row_uniform32(keys: tf.Tensor, stream: tf.Tensor | int, count: int) -> tf.Tensor:
    """:func:`row_uniform`'s numbers (the same bits), with the per-number hashing done on uint32."""
    stream_key = _hash(tf.bitwise.bitwise_xor(keys, _hash(tf.cast(stream, tf.int64) + 0x632BE5AB)))
    mixed = tf.bitwise.bitwise_xor(
        tf.cast(stream_key, tf.uint32)[:, None], tf.cast(tf.range(count), tf.uint32)[None, :]
    )
    values = _hash32(mixed)
    return tf.cast(tf.bitwise.right_shift(values, tf.constant(8, tf.uint32)), tf.float32) / float(1 << 24)


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _uniform_pair32(keys: tf.Tensor, stream: tf.Tensor, count: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The two uniforms of :func:`row_normal_pairs`, fused by XLA into one pass over memory (a dozen
    integer operations per number, each its own kernel otherwise). Integer arithmetic and an exact
    conversion to float: the same bits as :func:`row_uniform32`, on any backend."""
    return row_uniform32(keys, stream, count), row_uniform32(mix_keys(keys, stream), 0x7F4A7C15, count)


def row_normal_pairs(keys: tf.Tensor, stream: tf.Tensor | int, count: int) -> tf.Tensor:
    """``(rows, count)`` float32 standard normal numbers, a function of each row's key only, at half the cost
    of :func:`row_normal`: each pair of uniforms gives two normals (Box-Muller's cosine and sine).

    Example:
        >>> import tensorflow as tf
        >>> a = row_normal_pairs(example_keys(1, [0, 1]), 0, 5)
        >>> b = row_normal_pairs(example_keys(1, [1]), 0, 5)
        >>> a.shape, bool(tf.reduce_all(a[1] == b[0]))
        (TensorShape([2, 5]), True)
    """
    half = (count + 1) // 2
    u, v = _uniform_pair32(keys, tf.cast(stream, tf.int64), half)
    angle = (2.0 * 3.141592653589793) * v
    radius = rowwise(lambda u: tf.sqrt(-2.0 * tf.math.log(1.0 - u)), u)
    both = tf.concat([radius * rowwise(tf.cos, angle), radius * rowwise(tf.sin, angle)], axis=1)
    return both[:, :count]


def rowwise(fn, *tensors: tf.Tensor) -> tf.Tensor:
    """``fn`` (elementwise) on ``(rows, count)`` tensors, with each row's values alone deciding its result.

    TensorFlow's CPU kernels compute transcendental functions (log, cos, pow) on whole SIMD packets
    and the tail of a tensor one number at a time, and the two can differ in the last bit. Padding
    every row to a multiple of 16 numbers puts each number in a full packet whatever the number
    of rows, so a row's result does not depend on the batch it is in.

    Example:
        >>> import tensorflow as tf
        >>> rowwise(tf.math.log, tf.constant([[1.0, 2.0, 4.0]])).shape
        TensorShape([1, 3])
    """
    if tensors[0].shape[1] is not None and tensors[0].shape[1] % _LANES == 0:
        return fn(*tensors)  # every number is in a full packet already
    count = tf.shape(tensors[0])[1]
    pad = [[0, 0], [0, (_LANES - count % _LANES) % _LANES]]
    padded = [tf.pad(t, pad, constant_values=0.5) for t in tensors]  # 0.5: harmless for log, pow, ...
    return fn(*padded)[:, :count]


def per_example(fn, values: tf.Tensor) -> tf.Tensor:
    """``fn`` (elementwise: sqrt, exp, log, ...) on a per-example tensor, each value in a full SIMD packet.

    A vector of one value per example is short: which of its values fall in a kernel's scalar tail
    (and so may differ in the last bit from the packet path) would depend on the batch size.

    Example:
        >>> import tensorflow as tf
        >>> per_example(tf.sqrt, tf.constant([4.0, 9.0])).numpy().tolist()
        [2.0, 3.0]
    """
    flat = tf.reshape(values, [-1, 1])
    return tf.reshape(rowwise(fn, flat)[:, 0], tf.shape(values))

"""Norms: the L-inf, L2 and L1 balls of a threat model, each a small object with three hooks.

An attack loop needs only these from a norm: a random start inside the ball, the steepest
ascent direction for a gradient (a unit step in that norm), and the projection onto the ball.
Tensors are batched: axis 0 is the example, every other axis belongs to one example.

Example:
    >>> import tensorflow as tf
    >>> delta = tf.constant([[3.0, 4.0]])
    >>> [round(float(v), 3) for v in get_norm("l2").project(delta, 1.0)[0]]
    [0.6, 0.8]
"""

from __future__ import annotations

import tensorflow as tf

from robustkit.errors import ConfigError
from robustkit.row_random import per_example, row_normal, row_uniform, rowwise

_TINY = 1e-12


def _flat(t: tf.Tensor) -> tf.Tensor:
    return tf.reshape(t, [tf.shape(t)[0], -1])


def _dims(t: tf.Tensor) -> tf.Tensor:
    return tf.reduce_prod(tf.shape(t)[1:])


def _shaped(flat: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """``(batch, features)`` float32 numbers in ``like``'s shape and dtype."""
    return tf.reshape(tf.cast(flat, like.dtype), tf.shape(like))


def _expand(per_example: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    return tf.reshape(per_example, tf.concat([[-1], tf.ones([tf.rank(like) - 1], tf.int32)], 0))


class Norm:
    """A norm and its ball ``{delta : ||delta|| <= eps}``: the geometry of a threat model."""

    name: str = ""

    def measure(self, delta: tf.Tensor) -> tf.Tensor:
        """Per-example norm of ``delta``, shape ``(batch,)``."""
        raise NotImplementedError

    def random_start(self, like: tf.Tensor, eps: tf.Tensor, keys: tf.Tensor) -> tf.Tensor:
        """A uniform random point of the eps-ball for each example, a function of its random key
        (:func:`robustkit.row_random.example_keys`) only."""
        raise NotImplementedError

    def ascent_direction(self, grad: tf.Tensor, x_adv: tf.Tensor, lower: tf.Tensor, upper: tf.Tensor) -> tf.Tensor:
        """The unit-norm direction that increases the objective fastest to first order."""
        raise NotImplementedError

    def project(self, delta: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        """The closest point of the eps-ball to ``delta`` (Euclidean projection for L2/L1)."""
        raise NotImplementedError

    def config(self) -> dict:
        return {"norm": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # Norms with the same configuration are interchangeable (and share compiled attacks).
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Norm) and type(other) is type(self) and other.config() == self.config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.config().items()))))


class LinfNorm(Norm):
    """The L-inf ball: each feature moves by at most eps (FGSM/PGD's classic threat model)."""

    name = "linf"

    def measure(self, delta):
        return tf.reduce_max(tf.abs(_flat(delta)), axis=1)

    def random_start(self, like, eps, keys):
        return _shaped(2.0 * row_uniform(keys, 0, _dims(like)) - 1.0, like) * eps

    def ascent_direction(self, grad, x_adv, lower, upper):
        return tf.sign(grad)

    def project(self, delta, eps):
        return tf.clip_by_value(delta, -eps, eps)


class L2Norm(Norm):
    """The Euclidean ball."""

    name = "l2"

    def measure(self, delta):
        return per_example(tf.sqrt, tf.reduce_sum(tf.square(_flat(delta)), axis=1))

    def random_start(self, like, eps, keys):
        direction = _shaped(row_normal(keys, 0, _dims(like)), like)
        direction = direction / _expand(tf.maximum(self.measure(direction), _TINY), like)
        dims = tf.cast(_dims(like), like.dtype)
        radius = rowwise(lambda u: u ** (1.0 / dims), tf.cast(row_uniform(keys, 1, 1), like.dtype))[:, 0]
        return direction * _expand(radius, like) * eps

    def ascent_direction(self, grad, x_adv, lower, upper):
        return grad / _expand(tf.maximum(self.measure(grad), _TINY), grad)

    def project(self, delta, eps):
        norms = self.measure(delta)
        factor = tf.minimum(tf.ones_like(norms), eps / tf.maximum(norms, _TINY))
        return delta * _expand(factor, delta)


class L1Norm(Norm):
    """The L1 ball, with an exact projection and a sparse steepest-ascent step.

    The steepest L1 ascent moves the single coordinate with the largest gradient, which is too
    slow in practice; like Tramer & Boneh (2019) we move the ``sparsity`` fraction of coordinates
    with the largest gradient magnitude (skipping those pinned at a bound), sharing the unit L1
    step among them.
    """

    name = "l1"

    def __init__(self, sparsity: float = 0.05):
        if not (0.0 < float(sparsity) <= 1.0):
            raise ConfigError(f"L1 sparsity must lie in (0, 1], got {sparsity!r}.")
        self.sparsity = float(sparsity)

    def config(self) -> dict:
        return {"norm": self.name, "sparsity": self.sparsity}

    def __repr__(self) -> str:
        return f"L1Norm(sparsity={self.sparsity})"

    def measure(self, delta):
        return tf.reduce_sum(tf.abs(_flat(delta)), axis=1)

    def random_start(self, like, eps, keys):
        # Uniform in the L1 ball: d + 1 exponentials normalised by their sum are uniform on the
        # simplex; dropping the last coordinate gives a uniform point of the positive orthant part
        # of the ball, and random signs fill the rest.
        dims = _dims(like)
        exponential = lambda u: -tf.math.log(1.0 - u)  # noqa: E731  (1 - u lies in (0, 1])
        exp = rowwise(exponential, tf.cast(row_uniform(keys, 0, dims), like.dtype))
        extra = rowwise(exponential, tf.cast(row_uniform(keys, 1, 1), like.dtype))
        point = exp / (tf.reduce_sum(exp, axis=1, keepdims=True) + extra)
        signs = tf.where(row_uniform(keys, 2, dims) < 0.5, -1.0, 1.0)
        return _shaped(signs, like) * tf.reshape(point, tf.shape(like)) * eps

    def ascent_direction(self, grad, x_adv, lower, upper):
        flat_grad = _flat(grad)
        dims = tf.shape(flat_grad)[1]
        k = tf.maximum(1, tf.cast(tf.math.ceil(self.sparsity * tf.cast(dims, tf.float32)), tf.int32))
        # A coordinate at its bound cannot move further out; do not spend the step on it.
        pinned = tf.logical_or(tf.logical_and(grad > 0, x_adv >= upper), tf.logical_and(grad < 0, x_adv <= lower))
        score = tf.where(_flat(pinned), tf.zeros_like(flat_grad), tf.abs(flat_grad))
        threshold = tf.math.top_k(score, k).values[:, -1:]
        chosen = tf.logical_and(score >= threshold, score > 0)
        count = tf.maximum(tf.reduce_sum(tf.cast(chosen, grad.dtype), axis=1, keepdims=True), 1.0)
        step = tf.where(chosen, tf.sign(flat_grad), tf.zeros_like(flat_grad)) / count
        return tf.reshape(step, tf.shape(grad))

    def project(self, delta, eps):
        # Exact Euclidean projection onto the L1 ball (Duchi et al., 2008), batched.
        flat = _flat(delta)
        magnitude = tf.abs(flat)
        inside = tf.reduce_sum(magnitude, axis=1) <= eps
        ranked = tf.sort(magnitude, axis=1, direction="DESCENDING")
        cumulative = tf.cumsum(ranked, axis=1)
        index = tf.cast(tf.range(1, tf.shape(flat)[1] + 1), delta.dtype)
        positive = ranked - (cumulative - eps) / index > 0
        rho = tf.maximum(tf.reduce_sum(tf.cast(positive, tf.int32), axis=1), 1)
        theta = (tf.gather(cumulative, rho - 1, axis=1, batch_dims=1) - eps) / tf.cast(rho, delta.dtype)
        shrunk = tf.sign(flat) * tf.maximum(magnitude - theta[:, None], 0.0)
        # Rounding can leave the sum a hair above eps; scale that hair away.
        total = tf.reduce_sum(tf.abs(shrunk), axis=1)
        shrunk = shrunk * tf.minimum(tf.ones_like(total), eps / tf.maximum(total, _TINY))[:, None]
        projected = tf.where(inside[:, None], flat, shrunk)
        return tf.reshape(projected, tf.shape(delta))


NORMS = ("linf", "l2", "l1")


def get_norm(norm: str | Norm) -> Norm:
    """Look up a threat model by name: ``"linf"`` (also ``"inf"``), ``"l2"`` or ``"l1"``."""
    if isinstance(norm, Norm):
        return norm
    key = str(norm).lower().replace("_", "").replace("-", "")
    aliases = {"linf": "linf", "inf": "linf", "l∞": "linf", "2": "l2", "l2": "l2", "1": "l1", "l1": "l1"}
    if key not in aliases:
        raise ConfigError(f"Unknown norm {norm!r}; choose one of {', '.join(NORMS)}.")
    return {"linf": LinfNorm, "l2": L2Norm, "l1": L1Norm}[aliases[key]]()

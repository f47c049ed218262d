"""A norm measured feature by feature in units of each feature's own radius: per-feature threat models.

``ScaledNorm(base, radius)`` is the ball ``{delta : ||delta / radius|| <= eps}`` of the ``base`` norm:
a feature with radius 2 may move twice as far as one with radius 1, and a feature with radius 0 may
not move at all (an immutable feature). It is the base ball after the change of variables
``delta = radius * u``, so each hook maps to ``u``, calls the base norm's, and maps back: the
steepest ascent of ``g . delta`` over the ball is ``radius * base.ascent(radius * g)``, and the
projection is ``radius * base.project(delta / radius)``. Every attack that goes through the norm's
hooks (FGSM, PGD, APGD, APGD-T) attacks the per-feature ball exactly; the L-inf box is
``x +- eps * radius``; and :func:`robustkit.ball.settle` holds every attack's returned point to it.

Example:
    >>> import numpy as np, tensorflow as tf
    >>> from robustkit.norms import get_norm
    >>> ball = ScaledNorm(get_norm("linf"), np.array([2.0, 0.0, 1.0]))
    >>> ball.project(tf.constant([[5.0, 5.0, 5.0]]), 0.5).numpy().tolist()
    [[1.0, 0.0, 0.5]]
    >>> [float(v) for v in ball.measure(tf.constant([[1.0, 0.0, 0.25], [0.0, 0.1, 0.0]]))]
    [0.5, inf]
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf

from robustkit.norms import Norm


class ScaledNorm(Norm):
    """``||delta / radius||`` in the ``base`` norm; ``radius`` has one example's shape (or broadcasts to it)."""

    def __init__(self, base: Norm, radius: np.ndarray):
        self.base = base
        self.name = base.name
        self.radius = np.asarray(radius, np.float64)
        if not np.all(np.isfinite(self.radius)) or np.any(self.radius < 0):
            raise ValueError("a per-feature radius must be finite and >= 0")
        digest = hashlib.sha256(self.radius.tobytes() + str(self.radius.shape).encode()).hexdigest()[:12]
        self._digest = digest

    def config(self) -> dict:
        return {**self.base.config(), "feature_radius": self._digest}

    def __repr__(self) -> str:
        return f"ScaledNorm({self.base!r}, radius={self._digest})"

    def described(self, shown: int = 6) -> str:
        """Each feature's radius as a reader sees it: ``[0, 1.78, 5763]``, the first ``shown`` of many.

        Example:
            >>> from robustkit.norms import get_norm
            >>> ScaledNorm(get_norm("linf"), np.array([0.0, 1.784, 5762.9])).described()
            '[0, 1.784, 5763]'
        """
        flat = self.radius.ravel()
        values = ", ".join(f"{v:.4g}" for v in flat[:shown])
        return f"[{values}]" if flat.size <= shown else f"[{values}, ... ({flat.size} features)]"

    def feature_radius(self) -> tf.Tensor:
        """Each feature's radius in float64 (the L-inf box is ``x +- eps * radius``)."""
        return tf.constant(self.radius, tf.float64)

    def _r(self, like: tf.Tensor) -> tf.Tensor:
        return tf.constant(self.radius, like.dtype)

    def _to_units(self, delta: tf.Tensor) -> tf.Tensor:
        """``delta / radius``, zero where the radius is zero."""
        r = self._r(delta)
        return tf.where(r > 0, delta / tf.where(r > 0, r, tf.ones_like(r)), tf.zeros_like(delta))

    def measure(self, delta):
        r = self._r(delta)
        pinned_moved = tf.reduce_any(
            tf.reshape((r <= 0) & tf.not_equal(delta, 0), [tf.shape(delta)[0], -1]), axis=1
        )  # a move of an immutable feature is outside every ball
        size = self.base.measure(self._to_units(delta))
        return tf.where(pinned_moved, tf.constant(np.inf, size.dtype), size)

    def random_start(self, like, eps, keys):
        return self.base.random_start(like, eps, keys) * self._r(like)

    def ascent_direction(self, grad, x_adv, lower, upper):
        r = self._r(grad)
        return self.base.ascent_direction(grad * r, x_adv, lower, upper) * r

    def project(self, delta, eps):
        return self.base.project(self._to_units(delta), eps) * self._r(delta)

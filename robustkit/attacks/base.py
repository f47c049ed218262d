"""``GradientAttack``: configuration, input checks and batching around the compiled loop."""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from robustkit._backend import ensure_tensorflow_backend
from robustkit.attacks.loop import LoopConfig, build_attack_fn
from robustkit.attacks.result import AttackResult
from robustkit.errors import ConfigError, InputError, LabelError
from robustkit.gradients import _check_input_shape, compiled, compiled_predict, note_trace, objective_and_gradient
from robustkit.inputs import as_float_tensor, as_int_labels, ensure_in_bounds
from robustkit.logits import LogitsView, as_logits, num_classes_of
from robustkit.losses import check_loss, min_classes
from robustkit.norms import Norm, get_norm

TARGET_MODES = ("random", "least_likely")


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_eps(eps: Any) -> float:
    """Validate an epsilon: a finite number >= 0."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ConfigError(f"eps must be a number, got {eps!r}.") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"eps must be finite and >= 0, got {eps!r}.")
    return value


def _bounds_arrays(bounds: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        lower, upper = bounds
    except (TypeError, ValueError):
        raise ConfigError(f"bounds must be a pair (lower, upper), got {bounds!r}.") from None
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise ConfigError("bounds must be finite.")
    if np.any(lower >= upper):
        raise ConfigError(f"bounds need lower < upper everywhere, got {bounds!r}.")
    return lower, upper


class GradientAttack:
    """Projected gradient ascent on a loss inside an eps-ball; FGSM and PGD are configurations.

    Args:
        eps: radius of the threat model (>= 0).
        steps: gradient steps per restart.
        step_size: size of each step in the attack's norm (None: the subclass's default).
        norm: ``"linf"``, ``"l2"``, ``"l1"`` or a :class:`robustkit.norms.Norm`.
        loss: ``"ce"``, ``"margin"`` or ``"dlr"``.
        targeted: attack towards target labels (given at call time, or chosen by ``target``).
        target: ``"random"`` or ``"least_likely"`` to choose targets automatically.
        random_start: start each restart at a uniform random point of the ball.
        restarts: independent restarts; the best result per example is kept.
        early_stop: stop attacking an example once it is adversarial (evaluation mode).
        bounds: ``(lower, upper)``: scalars or arrays broadcastable to one example.
        batch_size: examples per compiled call; memory is bounded by it.
        seed: seed of the random starts (None: a fresh one per call, reported in the result).
        jit_compile: compile the loop with XLA.
    """

    default_steps = 1
    keep_best = True
    name = "attack"

    def __init__(
        self,
        eps: float,
        steps: int = 1,
        step_size: float | None = None,
        norm: str | Norm = "linf",
        loss: str = "ce",
        targeted: bool = False,
        target: str | None = None,
        random_start: bool = False,
        restarts: int = 1,
        early_stop: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        jit_compile: bool = False,
    ):
        ensure_tensorflow_backend()
        self.eps = check_eps(eps)
        self.steps = _positive_int("steps", steps)
        if step_size is not None:
            try:
                size = float(step_size)
            except (TypeError, ValueError):
                raise ConfigError(f"step_size must be a number, got {step_size!r}.") from None
            if not math.isfinite(size) or size <= 0:
                raise ConfigError(f"step_size must be finite and > 0, got {step_size!r}.")
            step_size = size
        self.step_size = step_size
        self.norm = get_norm(norm)
        if target is not None and target not in TARGET_MODES:
            raise ConfigError(f"target must be one of {TARGET_MODES} or None, got {target!r}.")
        self.target = target
        self.targeted = bool(targeted) or target is not None
        self.loss = check_loss(loss, self.targeted)
        self.random_start = bool(random_start)
        self.restarts = _positive_int("restarts", restarts)
        if self.restarts > 1 and not self.random_start:
            raise ConfigError(
                "restarts > 1 needs random_start=True; without a random start every restart "
                "follows the same path and only costs time."
            )
        self.early_stop = bool(early_stop)
        self.lower, self.upper = _bounds_arrays(bounds)
        self.batch_size = _positive_int("batch_size", batch_size)
        if seed is not None:
            seed = _positive_int("seed", seed, minimum=0)
        self.seed = seed
        self.jit_compile = bool(jit_compile)

    # -- configuration -------------------------------------------------------------------------

    def effective_step_size(self, eps: float | None = None) -> float:
        eps = self.eps if eps is None else eps
        return self.step_size if self.step_size is not None else self.default_step_size(eps)

    def default_step_size(self, eps: float) -> float:
        return eps

    def config(self) -> dict:
        """A JSON-ready description, enough to rebuild the attack."""
        return {
            "attack": self.name,
            "eps": self.eps,
            "steps": self.steps,
            "step_size": self.step_size,
            **self.norm.config(),
            "loss": self.loss,
            "targeted": self.targeted,
            "target": self.target,
            "random_start": self.random_start,
            "restarts": self.restarts,
            "early_stop": self.early_stop,
            "bounds": [self.lower.tolist(), self.upper.tolist()],
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.config().items() if k not in ("attack", "bounds")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def starts_at_x(self) -> bool:
        """Whether every restart takes its first step from x itself (no random start)."""
        return not self.random_start

    def _loop_config(self, first_given: bool = False) -> LoopConfig:
        return LoopConfig(
            norm=self.norm,
            loss=self.loss,
            targeted=self.targeted,
            steps=self.steps,
            restarts=self.restarts,
            random_start=self.random_start,
            early_stop=self.early_stop,
            keep_best=self.keep_best,
            gather=not self.jit_compile,
            first_given=first_given,
        )

    def _compiled_fn(self, view: LogitsView, example_shape: tuple = (), dtype: tf.DType = tf.float32, first_given: bool = False):
        """The compiled attack for this model, configuration, example shape and dtype.

        The batch axis is left open, so every batch size (a data set's last, smaller batch
        too) runs the same graph: one trace per (model, configuration, example shape, dtype).
        """
        cfg = self._loop_config(first_given)
        key = (
            "attack",
            tuple(example_shape),
            dtype.name,
            view.source,
            repr(self.norm),
            cfg,
            self.lower.tobytes(),
            self.lower.shape,
            self.upper.tobytes(),
            self.upper.shape,
        )

        def build():
            return build_attack_fn(view, cfg, self.lower, self.upper)

        signature = [
            tf.TensorSpec((None,) + tuple(example_shape), dtype),
            tf.TensorSpec((None,), tf.int32),
            tf.TensorSpec((), dtype),
            tf.TensorSpec((), dtype),
            tf.TensorSpec((2,), tf.int32),
        ]
        if first_given:
            batch_of = lambda shape, dt: tf.TensorSpec((None,) + shape, dt)  # noqa: E731
            signature.append((batch_of((), dtype), batch_of(tuple(example_shape), dtype), batch_of((), tf.int32)))
        return compiled(view.model, key, build, jit_compile=self.jit_compile, input_signature=signature)

    def evaluate_at_x(self, view: LogitsView, x: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """This attack's objective, its gradient and the model's prediction at ``x`` itself.

        An attack without random start takes its first step from ``x`` at every eps, so a
        caller sweeping eps computes these once and passes them to :meth:`run_validated` as
        ``first``: each eps then spends one gradient evaluation less per example (and FGSM none).
        ``labels`` are what the attack would get: the targets for a targeted attack.
        """
        shape, dtype = tuple(x.shape[1:]), x.dtype

        def build():
            def at_x(x, labels):
                note_trace()
                obj, grad, logits = objective_and_gradient(view, x, labels, self.loss, self.targeted)
                return obj, grad, tf.argmax(logits, axis=-1, output_type=tf.int32)

            return at_x

        key = ("at-x", shape, dtype.name, view.source, self.loss, self.targeted)
        signature = [tf.TensorSpec((None,) + shape, dtype), tf.TensorSpec((None,), tf.int32)]
        return compiled(view.model, key, build, input_signature=signature)(x, labels)

    # -- inputs --------------------------------------------------------------------------------

    def _prepare(self, model: Any, x: Any, y: Any, target: Any):
        x = as_float_tensor(x)
        if x.shape.rank is None or x.shape.rank < 2:
            raise InputError(f"x must be a batch with a leading example axis, got shape {tuple(x.shape)}.")
        _check_input_shape(model, x)
        try:
            np.broadcast_shapes(self.lower.shape, tuple(x.shape[1:]))
            np.broadcast_shapes(self.upper.shape, tuple(x.shape[1:]))
        except ValueError:
            raise ConfigError(
                f"bounds of shape {self.lower.shape} / {self.upper.shape} do not broadcast to one "
                f"example of shape {tuple(x.shape[1:])}."
            ) from None
        ensure_in_bounds(x, self.lower, self.upper)
        view = as_logits(model, x_sample=x[:8])
        classes = num_classes_of(view, x)
        if classes < min_classes(self.loss):
            raise ConfigError(f"loss={self.loss!r} needs at least {min_classes(self.loss)} classes; the model has {classes}.")
        labels = as_int_labels(y, classes, int(x.shape[0]))
        targets = None
        if self.targeted:
            if target is None and self.target is None:
                raise LabelError(
                    "This attack is targeted but no targets were given: pass target=<labels> when "
                    "calling it, or create it with target='random' or target='least_likely'."
                )
            if target is not None:
                targets = as_int_labels(target, classes, int(x.shape[0]), name="target")
        elif target is not None:
            raise ConfigError("target labels were given to an untargeted attack; create it with targeted=True.")
        return view, x, labels, targets, classes

    def _choose_targets(self, view, x, labels, classes, seed) -> tf.Tensor:
        if self.target == "least_likely":
            logits = view(x)
            # Never target the true class, even when it is the least likely one.
            masked = tf.where(tf.one_hot(labels, classes) > 0, tf.constant(np.inf, logits.dtype), logits)
            return tf.argmin(masked, axis=-1, output_type=tf.int32)
        offset = tf.random.stateless_uniform(tf.shape(labels), seed, 1, classes, dtype=tf.int32)
        return (labels + offset) % classes

    # -- running -------------------------------------------------------------------------------

    def _batches(self, x: Any, y: Any, target: Any) -> Iterator[tuple[Any, Any, Any]]:
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise ConfigError("Pass a tf.data.Dataset of (x, y) pairs alone, with y=None.")
            for element in x:
                if not isinstance(element, (tuple, list)) or len(element) < 2:
                    raise InputError("A dataset passed to an attack must yield (x, y) batches.")
                xb, yb = element[0], element[1]
                if xb.shape.rank is not None and xb.shape.rank >= 1:
                    for start in range(0, int(xb.shape[0]), self.batch_size):
                        yield xb[start : start + self.batch_size], yb[start : start + self.batch_size], None
            return
        if y is None:
            raise LabelError("y is required: pass the true labels of x.")
        n = int(x.shape[0]) if hasattr(x, "shape") and len(x.shape) else len(x)
        n_labels = len(y)
        if n_labels != n:
            raise LabelError(f"y has {n_labels} labels but x has {n} examples; they must match one to one.")
        if target is not None and not isinstance(target, str) and len(target) != n:
            raise LabelError(f"target has {len(target)} labels but x has {n} examples.")
        for start in range(0, n, self.batch_size):
            stop = start + self.batch_size
            yield x[start:stop], y[start:stop], None if target is None else target[start:stop]

    def _run_batch(self, model, x, y, target, seed_pair, with_clean: bool) -> AttackResult:
        view, x, labels, targets, classes = self._prepare(model, x, y, target)
        if self.targeted and targets is None:
            targets = self._choose_targets(view, x, labels, classes, seed_pair + tf.constant([0, 7919]))
        return self.run_validated(view, x, labels, targets, seed_pair, with_clean)

    def run_validated(
        self,
        view: LogitsView,
        x: tf.Tensor,
        labels: tf.Tensor,
        targets: tf.Tensor | None,
        seed_pair: tf.Tensor,
        with_clean: bool = True,
        first: tuple[tf.Tensor, tf.Tensor, tf.Tensor] | None = None,
    ) -> AttackResult:
        """Attack one batch whose inputs were already checked (the runner checks its data once).

        ``x`` must be a floating tensor inside the bounds, ``labels`` int32 class indices.
        ``first``: what :meth:`evaluate_at_x` returned for this batch (attacks without random
        start only); the first step then uses it instead of a gradient evaluation.
        """
        if first is not None and not self.starts_at_x:
            raise ConfigError("first= is for attacks without random start: theirs is the only first step taken from x.")
        compute_dtype = tf.float32 if x.dtype in (tf.float16, tf.bfloat16) else x.dtype
        x_compute = x if x.dtype == compute_dtype else tf.cast(x, compute_dtype)
        fn = self._compiled_fn(view, tuple(x.shape[1:]), compute_dtype, first_given=first is not None)
        args = [
            x_compute,
            targets if self.targeted else labels,
            tf.constant(self.eps, compute_dtype),
            tf.constant(self.effective_step_size(), compute_dtype),
            seed_pair,
        ]
        if first is not None:
            objective, gradient, prediction = first
            args.append((tf.cast(objective, compute_dtype), tf.cast(gradient, compute_dtype), prediction))
        x_adv, success, loss, adv_pred, norms, evals = fn(*args)
        if x_adv.dtype != x.dtype:
            x_adv = tf.cast(x_adv, x.dtype)
        if with_clean:
            clean_pred = compiled_predict(view, tuple(x.shape[1:]), compute_dtype)(x_compute).numpy()
        else:
            clean_pred = np.full(int(x.shape[0]), -1)
        return AttackResult(
            x_adv=x_adv,
            success=success.numpy(),
            clean_pred=clean_pred,
            adv_pred=adv_pred.numpy(),
            loss=loss.numpy(),
            norms=norms.numpy(),
            grad_evals=evals.numpy(),
            labels=labels.numpy(),
            targets=None if targets is None else targets.numpy(),
            attack=self.name,
        )

    def _seed(self) -> int:
        return int(np.random.default_rng().integers(0, 2**31 - 1)) if self.seed is None else self.seed

    def generate(self, model: Any, x: Any, y: Any = None, target: Any = None, *, seed: int | None = None) -> Iterator[AttackResult]:
        """Attack batch after batch, yielding one :class:`AttackResult` per batch.

        Memory stays bounded by ``batch_size``: use it for data sets that do not fit at once.
        """
        ensure_tensorflow_backend()
        seed = self._seed() if seed is None else seed
        for index, (xb, yb, tb) in enumerate(self._batches(x, y, target)):
            result = self._run_batch(model, xb, yb, tb, tf.constant([seed, index], tf.int32), with_clean=True)
            result.seed = seed
            yield result

    def run(self, model: Any, x: Any, y: Any = None, target: Any = None, *, seed: int | None = None) -> AttackResult:
        """Attack ``x`` (array, tensor or ``tf.data.Dataset`` of ``(x, y)``) and report everything.

        Example:
            >>> import keras, numpy as np
            >>> from robustkit.attacks import PGD
            >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
            >>> result = PGD(eps=0.1, steps=5, seed=0).run(model, np.full((2, 4), 0.5, "float32"), [0, 1])
            >>> result.x_adv.shape
            TensorShape([2, 4])
        """
        parts = list(self.generate(model, x, y, target, seed=seed))
        if not parts:
            raise InputError("x is empty: there is nothing to attack.")
        result = AttackResult.concat(parts)
        return result

    def __call__(self, model: Any, x: Any, y: Any, target: Any = None, *, seed: int | None = None) -> tf.Tensor:
        """Return the adversarial batch: a ``tf.Tensor`` with x's shape and dtype."""
        ensure_tensorflow_backend()
        seed = self._seed() if seed is None else seed
        if isinstance(x, tf.data.Dataset):
            return self.run(model, x, y, target, seed=seed).x_adv
        parts = [
            self._run_batch(model, xb, yb, tb, tf.constant([seed, index], tf.int32), with_clean=False).x_adv
            for index, (xb, yb, tb) in enumerate(self._batches(x, y, target))
        ]
        if not parts:
            raise InputError("x is empty: there is nothing to attack.")
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)

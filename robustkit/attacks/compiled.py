"""An attack's compiled graph, and running it on tensors that were already validated.

:class:`~robustkit.attacks.base.LoopAttack` checks a user's inputs and then calls
:func:`run_validated`. A runner that checks a whole data set once (the benchmark runner) calls it
directly. Not part of the user-facing API: use ``attack(model, x, y)``, ``attack.run(...)`` or
``attack.generate(...)``.

The compiled function is cached per (model, configuration, example shape, dtype); its batch axis
is open, so every batch size (a data set's last, smaller batch too) runs the same graph.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks.few_classes import for_classes
from robustkit.attacks.loop import LoopConfig, OwnLoop, build_attack_fn
from robustkit.attacks.loop.records import hit
from robustkit.attacks.result import AttackResult
from robustkit.ball import settle
from robustkit.constraints import repair
from robustkit.errors import ConfigError
from robustkit.logits import LogitsView, num_classes_of
from robustkit.losses import GUIDED_LOSSES, margin
from robustkit.straight_through import straight_through
from robustkit.tape import objective_and_gradient
from robustkit.tracing import compiled, compiled_predict, note_trace

AtX = tuple[tf.Tensor, tf.Tensor, tf.Tensor]  # objective, gradient and prediction at x


def loop_config(attack: Any, first_given: bool = False) -> LoopConfig:
    return LoopConfig(
        norm=attack.norm,
        loss=attack.loss,
        targeted=attack.targeted,
        steps=attack.steps,
        restarts=attack.restarts,
        early_stop=attack.early_stop,
        keep_best=attack.keep_best,
        gather=not attack.jit_compile,
        first_given=first_given,
        eot=getattr(attack, "eot", 1),
        straight_through=getattr(attack, "straight_through", False),
    )


def compiled_attack(attack: Any, view: LogitsView, example_shape: tuple, dtype: tf.DType, first_given: bool = False):
    """The cached ``tf.function`` of ``attack`` on ``view`` for one example shape and dtype."""
    cfg = loop_config(attack, first_given)
    rule = attack.loop_rule()
    key = (
        "attack",
        tuple(example_shape),
        dtype.name,
        view.source,
        repr(attack.norm),
        cfg,
        rule,
        attack.lower.tobytes(),
        attack.lower.shape,
        attack.upper.tobytes(),
        attack.upper.shape,
    )
    signature = [
        tf.TensorSpec((None,) + tuple(example_shape), dtype),
        tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((), tf.float64),  # eps as given: the loop's box is exact (robustkit.ball.linf_box)
        tf.TensorSpec((), dtype),
        tf.TensorSpec((None,), tf.int64),  # each example's random key
    ]
    if first_given:
        signature.append(
            (
                tf.TensorSpec((None,), dtype),
                tf.TensorSpec((None,) + tuple(example_shape), dtype),
                tf.TensorSpec((None,), tf.int32),
            )
        )
    if attack.loss in GUIDED_LOSSES:
        signature.append(tf.TensorSpec((None,), tf.int32))  # the guide class of each example
    # A loop of its own (a minimum-norm attack keeps the closest point, not the best objective) builds itself.
    build = rule.build if isinstance(rule, OwnLoop) else partial(build_attack_fn, rule=rule)
    return compiled(
        view.model,
        key,
        lambda: traced_as_asked(build(view, cfg, lower=attack.lower, upper=attack.upper), cfg.straight_through),
        jit_compile=attack.jit_compile,
        input_signature=signature,
    )


def traced_as_asked(fn: Callable, straight: bool) -> Callable:
    """``fn``, traced inside :func:`~robustkit.straight_through.straight_through` when ``straight``."""
    if not straight:
        return fn

    def with_straight_through(*args):
        with straight_through():  # Python runs only while tracing: the context shapes the graph
            return fn(*args)

    return with_straight_through


def evaluation_at_x(attack: Any, view: LogitsView, x: tf.Tensor, labels: tf.Tensor) -> AtX:
    """The attack's objective, its gradient and the model's prediction at ``x`` itself.

    An attack that starts at x takes its first step from there at every eps, so a caller
    sweeping eps computes this once and passes it to :func:`run_validated` as ``first``: each eps
    then spends one gradient evaluation less per example (and FGSM none). ``labels`` are what
    the attack gets: the targets of a targeted attack.
    """
    shape, dtype = tuple(x.shape[1:]), x.dtype
    attack = for_classes(attack, num_classes_of(view, x), warn=False)

    def build():
        def at_x(x, labels):
            note_trace()
            obj, grad, logits = objective_and_gradient(view, x, labels, attack.loss, attack.targeted)
            return obj, grad, tf.argmax(logits, axis=-1, output_type=tf.int32)

        return at_x

    straight = bool(getattr(attack, "straight_through", False))
    key = ("at-x", shape, dtype.name, view.source, attack.loss, attack.targeted, straight)
    signature = [tf.TensorSpec((None,) + shape, dtype), tf.TensorSpec((None,), tf.int32)]
    return compiled(view.model, key, lambda: traced_as_asked(build(), straight), input_signature=signature)(x, labels)


def run_validated(
    attack: Any,
    view: LogitsView,
    x: tf.Tensor,
    labels: tf.Tensor,
    targets: tf.Tensor | None,
    keys: tf.Tensor,
    with_clean: bool = True,
    first: AtX | None = None,
) -> AttackResult:
    """Attack one batch whose inputs were checked already.

    ``x`` must be a floating tensor inside the attack's bounds, ``labels`` int32 class indices.
    ``keys``: each example's random key (:func:`robustkit.row_random.example_keys` of the seed and the
    examples' indices in the data set), so that no result depends on how the data was cut.
    ``first``: what :func:`evaluation_at_x` returned for this batch (attacks that start at x only).
    The attack's own :meth:`execute` runs it: one compiled run, or one per target class for the
    attacks that sweep targets (:mod:`robustkit.attacks.target_sweep`).
    """
    attack = for_classes(attack, num_classes_of(view, x))  # APGD-T and APGD-DLR on 2 or 3 classes
    if first is not None and not attack.loop_rule().starts_at_x:
        raise ConfigError("first= is for attacks without random start: theirs is the only first step taken from x.")
    compute_dtype = tf.float32 if x.dtype in (tf.float16, tf.bfloat16) else x.dtype
    x_compute = x if x.dtype == compute_dtype else tf.cast(x, compute_dtype)
    goal = targets if attack.targeted else labels
    out = attack.execute(view, x_compute, goal, keys, first)
    queries = radius = None
    out["grad_evals"] = out["grad_evals"] * attack.eot  # each evaluation averaged eot passes
    if attack.kind == "score":  # its evaluations were forward passes
        queries, out["grad_evals"] = out["grad_evals"], np.zeros_like(out["grad_evals"])
    if attack.kind == "minimum-norm":  # the objective is minus the smallest adversarial norm found
        radius = -np.asarray(out["loss"], np.float64)
    x_adv = _settled(attack, view, x, goal, out, radius)
    if with_clean:
        clean_pred = compiled_predict(view, tuple(x.shape[1:]), compute_dtype)(x_compute).numpy()
    else:
        clean_pred = np.full(int(x.shape[0]), -1)
    return AttackResult(
        x_adv=x_adv,
        success=out["success"],
        clean_pred=clean_pred,
        adv_pred=out["adv_pred"],
        loss=out["loss"],
        norms=out["norms"],
        grad_evals=out["grad_evals"],
        labels=labels.numpy(),
        targets=None if targets is None else targets.numpy(),
        attack=attack.name,
        queries=queries,
        radius=radius,
    )


def _settled(
    attack: Any, view: LogitsView, x: tf.Tensor, goal: tf.Tensor, out: dict[str, Any], radius: np.ndarray | None
) -> tf.Tensor:
    """The loop's last points in x's dtype, inside the ball and bounds (:func:`robustkit.ball.settle`).

    ``norms`` become those of the returned arrays (in float64). An example whose returned point differs
    from the loop's (moved inside, or rounded to a half-precision dtype) is classified again there, so
    that success always describes the point returned. A minimum-norm attack never gains success here;
    its radius becomes, on success, the returned point's norm, and otherwise a number beyond eps, so
    that success is exactly ``radius <= eps`` in float64. ``loss`` stays the objective at the loop's
    own last point.
    """
    settled = compiled_settle(attack, tuple(x.shape[1:]), x.dtype, out["x_adv"].dtype)
    x_adv, norms, changed = settled(x, out["x_adv"], tf.constant(float(attack.eps), tf.float64))
    constraints = getattr(attack, "constraints", None)
    if constraints is not None and constraints.needs_repair:
        x_adv, norms, changed = _repaired(
            attack, x, x_adv, out["x_adv"], _strength(attack, view, goal, out["x_adv"].dtype)
        )
    out["norms"] = norms.numpy()
    # Rows whose returned point differs from the loop's (a half-precision cast moves nearly all of them).
    moved = np.flatnonzero(np.asarray(changed))
    if len(moved):
        compute_dtype = out["x_adv"].dtype
        rows = tf.cast(tf.gather(x_adv, moved), compute_dtype)
        prediction = compiled_predict(view, tuple(x.shape[1:]), compute_dtype)(rows).numpy()
        still = hit(prediction, tf.gather(goal, moved), attack.targeted).numpy()
        out["adv_pred"][moved] = prediction
        # Success means "an adversarial point within eps was found": a minimum-norm attack never gains it here.
        out["success"][moved] = still if radius is None else out["success"][moved] & still
    if radius is not None:
        success = out["success"]
        radius[success] = out["norms"][success]
        radius[~success] = np.maximum(radius[~success], np.nextafter(float(attack.eps), np.inf))
    return x_adv


_SETTLE_OWNER = type("Settle", (), {})()  # the cache's owner: settling depends on no model
SMALLEST_NORMAL = {tf.float16: 2.0**-14, tf.bfloat16: 2.0**-126, tf.float32: 2.0**-126, tf.float64: 2.0**-1022}


def compiled_settle(attack: Any, example_shape: tuple, dtype: tf.DType, compute_dtype: tf.DType):
    """The cached graph of ``(x, loop's last points, eps) -> (x_adv, norms in float64, changed rows)``.

    Under feature constraints, immutable features are first put back at x (an attack with its own
    geometry, FAB or Square's L2 proposal, may have moved them).
    """
    norm, lower, upper = attack.norm, attack.lower, attack.upper
    radius = getattr(norm, "radius", None)

    def build():
        def settle_batch(x, last, eps):
            point = last if last.dtype == x.dtype else tf.cast(last, x.dtype)
            if radius is not None:
                point = tf.where(tf.constant(radius > 0), point, x)
            # A move smaller than the dtype's smallest normal number is a subnormal, which TensorFlow reads as
            # zero (and numpy does not): such a coordinate returns to x, so that both agree on the norm.
            tiny = tf.constant(SMALLEST_NORMAL[x.dtype], tf.float64)
            point = tf.where(tf.abs(tf.cast(point, tf.float64) - tf.cast(x, tf.float64)) < tiny, x, point)
            x_adv = settle(x, point, eps, norm, lower, upper)
            norms = norm.measure(tf.cast(x_adv, tf.float64) - tf.cast(x, tf.float64))
            changed = tf.not_equal(tf.cast(x_adv, compute_dtype), last)
            return x_adv, norms, tf.reduce_any(tf.reshape(changed, [tf.shape(x)[0], -1]), axis=1)

        return settle_batch

    bounds = (lower.tobytes(), lower.shape, upper.tobytes(), upper.shape)
    key = (tuple(example_shape), dtype.name, compute_dtype.name, repr(norm), *bounds)
    signature = [
        tf.TensorSpec((None,) + tuple(example_shape), dtype),
        tf.TensorSpec((None,) + tuple(example_shape), compute_dtype),
        tf.TensorSpec((), tf.float64),
    ]
    return compiled(_SETTLE_OWNER, key, build, input_signature=signature)


def _strength(attack: Any, view: LogitsView, goal: tf.Tensor, dtype: tf.DType) -> Callable[[np.ndarray], np.ndarray]:
    """How adversarial each candidate point is: the margin by which another class (or, targeted, the target)
    leads, in float64; what a one-hot repair maximises over the valid categories."""

    def score(points: np.ndarray) -> np.ndarray:
        logits = tf.cast(view(tf.constant(points, dtype)), tf.float64)
        return margin(logits, tf.cast(goal, tf.int32), bool(attack.targeted)).numpy()

    return score


def _repaired(
    attack: Any, x: tf.Tensor, x_adv: tf.Tensor, last: tf.Tensor, score: Callable[[np.ndarray], np.ndarray]
) -> tuple[tf.Tensor, Any, Any]:
    """Integer features and one-hot groups made valid on the settled points (:func:`robustkit.constraints.repair`,
    each group taking its strongest valid category by ``score``), settled again in x's dtype; the norms and which
    rows differ from the loop's ``last`` points."""
    bounds = (attack.lower, attack.upper)
    fixed = repair(x.numpy(), x_adv.numpy(), attack.eps, attack.norm.base, attack.constraints, bounds, x.dtype, score)
    settled = compiled_settle(attack, tuple(x.shape[1:]), x.dtype, x.dtype)
    x_adv, norms, _ = settled(x, tf.cast(fixed, x.dtype), tf.constant(float(attack.eps), tf.float64))
    changed = np.any((tf.cast(x_adv, last.dtype) != last).numpy().reshape(len(fixed), -1), axis=1)
    return x_adv, norms, changed


OUTPUTS = ("x_adv", "success", "loss", "adv_pred", "norms", "grad_evals")


def compiled_run(
    attack: Any,
    view: LogitsView,
    x: tf.Tensor,
    goal: tf.Tensor,
    keys: tf.Tensor,
    first: AtX | None = None,
    guide: tf.Tensor | None = None,
) -> dict[str, Any]:
    """One call of the compiled attack; everything but ``x_adv`` as numpy arrays.

    ``guide``: the class each example's loss steers towards (attacks that sweep targets).
    """
    dtype = x.dtype
    fn = compiled_attack(attack, view, tuple(x.shape[1:]), dtype, first_given=first is not None)
    eps = tf.constant(attack.eps, tf.float64)
    args: list = [x, goal, eps, tf.constant(attack.effective_step_size(), dtype), keys]
    if first is not None:
        objective, gradient, prediction = first
        args.append((tf.cast(objective, dtype), tf.cast(gradient, dtype), prediction))
    if guide is not None:
        args.append(guide)
    values = fn(*args)
    return {name: v if name == "x_adv" else v.numpy() for name, v in zip(OUTPUTS, values)}

"""An attack's compiled graph, and running it on tensors that were already validated.

:class:`~robustkit.attacks.base.GradientAttack` checks a user's inputs and then calls
:func:`run_validated`. A runner that checks a whole data set once (the benchmark runner) calls it
directly. Not part of the user-facing API: use ``attack(model, x, y)``, ``attack.run(...)`` or
``attack.generate(...)``.

The compiled function is cached per (model, configuration, example shape, dtype); its batch axis
is open, so every batch size (a data set's last, smaller batch too) runs the same graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.attacks.loop import LoopConfig, build_attack_fn
from robustkit.attacks.result import AttackResult
from robustkit.errors import ConfigError
from robustkit.logits import LogitsView
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
    )


def compiled_attack(attack: Any, view: LogitsView, example_shape: tuple, dtype: tf.DType, first_given: bool = False):
    """The cached ``tf.function`` of ``attack`` on ``view`` for one example shape and dtype."""
    cfg = loop_config(attack, first_given)
    rule = attack.step_rule()
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
        tf.TensorSpec((), dtype),
        tf.TensorSpec((), dtype),
        tf.TensorSpec((2,), tf.int32),
    ]
    if first_given:
        signature.append(
            (
                tf.TensorSpec((None,), dtype),
                tf.TensorSpec((None,) + tuple(example_shape), dtype),
                tf.TensorSpec((None,), tf.int32),
            )
        )
    return compiled(
        view.model,
        key,
        lambda: build_attack_fn(view, cfg, rule, attack.lower, attack.upper),
        jit_compile=attack.jit_compile,
        input_signature=signature,
    )


def evaluation_at_x(attack: Any, view: LogitsView, x: tf.Tensor, labels: tf.Tensor) -> AtX:
    """The attack's objective, its gradient and the model's prediction at ``x`` itself.

    An attack that starts at x takes its first step from there at every eps, so a caller
    sweeping eps computes this once and passes it to :func:`run_validated` as ``first``: each eps
    then spends one gradient evaluation less per example (and FGSM none). ``labels`` are what
    the attack gets: the targets of a targeted attack.
    """
    shape, dtype = tuple(x.shape[1:]), x.dtype

    def build():
        def at_x(x, labels):
            note_trace()
            obj, grad, logits = objective_and_gradient(view, x, labels, attack.loss, attack.targeted)
            return obj, grad, tf.argmax(logits, axis=-1, output_type=tf.int32)

        return at_x

    key = ("at-x", shape, dtype.name, view.source, attack.loss, attack.targeted)
    signature = [tf.TensorSpec((None,) + shape, dtype), tf.TensorSpec((None,), tf.int32)]
    return compiled(view.model, key, build, input_signature=signature)(x, labels)


def run_validated(
    attack: Any,
    view: LogitsView,
    x: tf.Tensor,
    labels: tf.Tensor,
    targets: tf.Tensor | None,
    seed_pair: tf.Tensor,
    with_clean: bool = True,
    first: AtX | None = None,
) -> AttackResult:
    """Attack one batch whose inputs were checked already.

    ``x`` must be a floating tensor inside the attack's bounds, ``labels`` int32 class indices.
    ``first``: what :func:`evaluation_at_x` returned for this batch (attacks that start at x only).
    """
    if first is not None and not attack.step_rule().starts_at_x:
        raise ConfigError("first= is for attacks without random start: theirs is the only first step taken from x.")
    compute_dtype = tf.float32 if x.dtype in (tf.float16, tf.bfloat16) else x.dtype
    x_compute = x if x.dtype == compute_dtype else tf.cast(x, compute_dtype)
    fn = compiled_attack(attack, view, tuple(x.shape[1:]), compute_dtype, first_given=first is not None)
    args = [
        x_compute,
        targets if attack.targeted else labels,
        tf.constant(attack.eps, compute_dtype),
        tf.constant(attack.effective_step_size(), compute_dtype),
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
        attack=attack.name,
    )

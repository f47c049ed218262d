"""``LoopAttack`` and ``GradientAttack``: an attack's settings and its public calls, around the shared
compiled loop.

An attack is a configuration (eps, norm, loss, budget, restarts, targets, bounds) plus a step
rule (:mod:`robustkit.attacks.loop.rule`). :class:`LoopAttack` validates the configuration and
the user's inputs, cuts the data into batches and returns the results; :class:`GradientAttack`
adds what gradient steps need (step size, random starts, straight-through gradients), and a
score-based attack takes :class:`LoopAttack` as it is. Adding an attack family means writing its
step rule and a subclass that returns it from :meth:`LoopAttack.step_rule`; a minimum-norm
attack, whose loop is its own, returns that loop from :meth:`LoopAttack.loop_rule` instead. The kinds of attack, and
what each promises, are in :mod:`robustkit.attacks.kinds`.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit._backend import ensure_tensorflow_backend
from robustkit.attacks.compiled import AtX, compiled_run, evaluation_at_x, run_validated
from robustkit.attacks.declared import Declared
from robustkit.attacks.loop import LoopRule, StepRule
from robustkit.attacks.prepare import batches, checked_index, choose_targets, prepare_batch
from robustkit.attacks.replicas import map_on_replicas
from robustkit.attacks.result import AttackResult
from robustkit.attacks.settings import positive_int, restarts_for, target_mode
from robustkit.constraints import Constraints
from robustkit.errors import ConfigError, InputError
from robustkit.inputs import validate_bounds
from robustkit.logits import LogitsView
from robustkit.losses import validate_loss
from robustkit.norms import Norm, get_norm
from robustkit.ranges import Eps, in_input_units, parse_eps
from robustkit.row_random import example_keys
from robustkit.scaled_norm import ScaledNorm


class LoopAttack(Declared):
    """An attack on the shared compiled loop: a threat model, a budget, an objective, and the public calls.

    Gradient attacks (:class:`GradientAttack`) add their step size, random starts and straight-through
    gradients; a score-based attack (:class:`~robustkit.attacks.square.Square`) takes this class as
    it is, and its step rule asks for forward passes only.

    Args:
        eps: radius of the threat model (>= 0): a number in input units, or a fraction of the input
            range such as ``"8/255"`` (8 units on [0, 255] bounds, 8/255 on [0, 1]).
        steps: the budget per restart: what the class's ``budget`` says it counts (steps, queries).
        norm: ``"linf"``, ``"l2"``, ``"l1"`` or a :class:`robustkit.norms.Norm`.
        loss: ``"ce"``, ``"margin"`` or ``"dlr"``.
        targeted: attack towards target labels (given at call time, or chosen by ``target``).
        target: ``"random"`` or ``"least_likely"`` to choose targets automatically.
        restarts: independent restarts; the best result per example is kept.
        early_stop: stop attacking an example once it is adversarial (evaluation mode).
        bounds: ``(lower, upper)``: scalars or arrays broadcastable to one example.
        batch_size: examples per compiled call; memory is bounded by it.
        seed: seed of the random draws (None: a fresh one per call, reported in the result).
        jit_compile: compile the loop with XLA.
    """

    keep_best = True
    name = "attack"
    eot = 1  # gradients averaged over this many passes (PGD and APGD take eot=)
    constraints: Constraints | None = None  # per-feature eps, immutable, integer and one-hot features
    step_size: float | None = None  # None: the rule's own (gradient attacks take step_size=)
    random_start: bool = False  # each restart from a random point of the ball (an attack that chooses
    # its own start sets it as a class attribute)
    straight_through: bool = False  # BPDA through rounding (gradient attacks take straight_through=)

    def __init__(
        self,
        eps: Eps | str | None,
        steps: int = 1,
        norm: str | Norm = "linf",
        loss: str = "ce",
        targeted: bool = False,
        target: str | None = None,
        restarts: int = 1,
        early_stop: bool = False,
        bounds: Any = (0.0, 1.0),
        batch_size: int = 256,
        seed: int | None = None,
        jit_compile: bool = False,
    ):
        ensure_tensorflow_backend()
        self.lower, self.upper = validate_bounds(bounds)
        if eps is None and getattr(self, "kind", "") != "minimum-norm":
            raise ConfigError(f"{type(self).__name__} needs eps, the threat model's radius (a number, or '8/255').")
        # A minimum-norm attack needs none: its radius answers every eps, and with no eps every point found counts.
        self.eps = math.inf if eps is None else in_input_units(parse_eps(eps), (self.lower, self.upper))
        self.steps = positive_int("steps", steps)
        self.norm = get_norm(norm)
        self.target = target_mode(target)
        self.targeted = bool(targeted) or target is not None
        self.loss = validate_loss(loss, self.targeted)
        self.restarts = restarts_for(restarts, self.random_start)
        self.early_stop = bool(early_stop)
        self.batch_size = positive_int("batch_size", batch_size)
        self.seed = None if seed is None else positive_int("seed", seed, minimum=0)
        self.jit_compile = bool(jit_compile)

    # -- what the class declares: robustkit.attacks.declared.Declared; and its name among others --

    def label(self) -> str:
        """How an ensemble names this attack among others (``apgd-ce``, ``fab-t``)."""
        return self.name

    # -- configuration -------------------------------------------------------------------------

    def with_constraints(self, constraints: Constraints | None) -> LoopAttack:
        """This attack under feature constraints (:mod:`robustkit.constraints`): a copy, or itself for None.

        Example:
            >>> import numpy as np
            >>> from robustkit.attacks import PGD
            >>> from robustkit.constraints import FeatureSpec
            >>> rule = FeatureSpec(immutable=(0,)).resolve(None, np.zeros((1, 3)), (0.0, 1.0))
            >>> PGD(eps=0.1).with_constraints(rule).norm
            ScaledNorm(LinfNorm(), radius=...)
        """
        if constraints is None:
            return self
        changed = copy.copy(self)
        changed.constraints = constraints
        changed.norm = ScaledNorm(getattr(self.norm, "base", self.norm), constraints.radius)
        if constraints.needs_repair:
            # The loop sees unrounded points: one it finds adversarial may stop being so once its integers
            # and categories are made valid, so it must not stop early on it.
            changed.early_stop = False
        return changed

    def step_rule(self) -> StepRule:
        """The attack family's part of the shared loop (see :mod:`robustkit.attacks.loop.rule`)."""
        raise NotImplementedError(f"{type(self).__name__} names no step rule: return one from step_rule().")

    def loop_rule(self) -> LoopRule:
        """What the compiled loop runs: the step rule, or (minimum-norm attacks) a loop of the attack's own."""
        return self.step_rule()

    def execute(
        self, view: LogitsView, x: tf.Tensor, goal: tf.Tensor, keys: tf.Tensor, first: AtX | None = None
    ) -> dict[str, Any]:
        """Run the compiled attack on one batch that was validated already (see :func:`run_validated`).

        One compiled run; the attacks that sweep targets run one per target
        (:class:`~robustkit.attacks.target_sweep.TargetSweep`).
        """
        return compiled_run(self, view, x, goal, keys, first)

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
            **({"eot": self.eot} if self.eot > 1 else {}),
            **({"straight_through": True} if self.straight_through else {}),
            **({"constraints": list(self.constraints.described)} if self.constraints is not None else {}),
        }

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.config().items() if k not in ("attack", "bounds")}
        if "feature_radius" in shown:  # the config keeps a digest (a key); a reader gets the radii themselves
            shown["feature_radius"] = getattr(self.norm, "described", lambda: shown["feature_radius"])()
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    # -- running -------------------------------------------------------------------------------

    def attack_batch(
        self, view: LogitsView, x: tf.Tensor, labels: tf.Tensor, keys: tf.Tensor, *, first: AtX | None = None
    ) -> AttackResult:
        """Attack one batch that the caller validated already: the one way a runner attacks a batch.

        A runner that checked a whole data set once (finite, inside the bounds, labels in range) and
        holds the model's logits view calls this rather than :meth:`run`. ``keys``: each example's
        random key (:func:`robustkit.row_random.example_keys` of the seed and its index in the data
        set). ``first``: what :meth:`first_evaluation` gave for this batch (attacks that start at x),
        so a sweep over eps takes the first step's gradient once. ``clean_pred`` is not computed.

        Example:
            >>> import keras, numpy as np, tensorflow as tf
            >>> from robustkit.attacks import FGSM
            >>> from robustkit.logits import as_logits
            >>> from robustkit.row_random import example_keys
            >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
            >>> x, y = tf.fill((2, 4), 0.5), tf.constant([0, 1])
            >>> result = FGSM(eps=0.1).attack_batch(as_logits(model), x, y, example_keys(0, np.arange(2)))
            >>> bool(result.norms.max() <= 0.1)
            True
        """
        return run_validated(self, view, x, labels, None, keys, with_clean=False, first=first)

    def first_evaluation(self, view: LogitsView, x: tf.Tensor, labels: tf.Tensor) -> AtX:
        """The objective, its gradient and the prediction at x itself (see :func:`evaluation_at_x`)."""
        return evaluation_at_x(self, view, x, labels)

    def _run_batch(self, model: Any, x: Any, y: Any, target: Any, keys: tf.Tensor, with_clean: bool) -> AttackResult:
        batch = prepare_batch(self, model, x, y, target)
        targets = batch.targets
        if self.targeted and targets is None:
            targets = choose_targets(str(self.target), batch, keys)
        return run_validated(self, batch.view, batch.x, batch.labels, targets, keys, with_clean)

    def _seed(self) -> int:
        return int(np.random.default_rng().integers(0, 2**31 - 1)) if self.seed is None else self.seed

    def _keyed_batches(self, x: Any, y: Any, target: Any, seed: int, index: Any) -> Iterator[tuple[tf.Tensor, tuple]]:
        """Batches of ``(x, y, target)``, each with its examples' random keys (seed and data-set index)."""
        positions = None if index is None else checked_index(index, x)
        start = 0
        for batch in batches(x, y, target, self.batch_size):
            n = len(batch[1])
            rows = np.arange(start, start + n) if positions is None else positions[start : start + n]
            if len(rows) != n:
                raise InputError(f"index has {start + len(rows)} entries but the data has more examples.")
            yield example_keys(seed, rows), batch
            start += n

    def generate(
        self,
        model: Any,
        x: Any,
        y: Any = None,
        target: Any = None,
        *,
        seed: int | None = None,
        strategy: Any = None,
        index: Any = None,
    ) -> Iterator[AttackResult]:
        """Attack batch after batch, yielding one :class:`AttackResult` per batch.

        Memory stays bounded by ``batch_size``: use it for data sets that do not fit at once. Under a
        ``tf.distribute`` strategy (``strategy=tf.distribute.MirroredStrategy()``), consecutive batches
        go to the replicas side by side, one each, and the results equal one device's.

        Every random draw (random starts, restarts, random targets, Square's windows) is keyed by the
        seed and the example's index in the data set: ``0, 1, ...`` in the order given, or ``index``
        (one integer per example) when ``x`` is a part of a larger data set. So the batch size and
        any cut of the data into parts leave every draw unchanged.

        Example:
            >>> import keras, numpy as np
            >>> from robustkit.attacks import FGSM
            >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
            >>> x = np.full((5, 4), 0.5, "float32")
            >>> [len(part) for part in FGSM(eps=0.1, batch_size=2).generate(model, x, [0, 1, 2, 0, 1])]
            [2, 2, 1]
        """
        ensure_tensorflow_backend()
        seed = self._seed() if seed is None else seed
        keyed = self._keyed_batches(x, y, target, seed, index)
        replicas = 1 if strategy is None else strategy.num_replicas_in_sync

        def attack_batch(keys: tf.Tensor, batch: tuple) -> AttackResult:
            xb, yb, tb = batch
            return self._run_batch(model, xb, yb, tb, keys, with_clean=True)

        while group := list(itertools.islice(keyed, replicas)):  # batches are read lazily (tf.data)
            for result in map_on_replicas(attack_batch, group, strategy):
                result.seed = seed
                yield result

    def run(
        self,
        model: Any,
        x: Any,
        y: Any = None,
        target: Any = None,
        *,
        seed: int | None = None,
        strategy: Any = None,
        index: Any = None,
    ) -> AttackResult:
        """Attack ``x`` (array, tensor or ``tf.data.Dataset`` of ``(x, y)``) and report everything.

        ``index``: the examples' indices in the data set, when ``x`` is a part of it (see :meth:`generate`).

        Example:
            >>> import keras, numpy as np
            >>> from robustkit.attacks import PGD
            >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
            >>> result = PGD(eps=0.1, steps=5, seed=0).run(model, np.full((2, 4), 0.5, "float32"), [0, 1])
            >>> result.x_adv.shape
            TensorShape([2, 4])
        """
        parts = list(self.generate(model, x, y, target, seed=seed, strategy=strategy, index=index))
        if not parts:
            raise InputError("x is empty: there is nothing to attack.")
        return AttackResult.concat(parts)

    def __call__(
        self,
        model: Any,
        x: Any,
        y: Any,
        target: Any = None,
        *,
        seed: int | None = None,
        strategy: Any = None,
        index: Any = None,
    ) -> tf.Tensor:
        """Return the adversarial batch: a ``tf.Tensor`` with x's shape and dtype."""
        ensure_tensorflow_backend()
        seed = self._seed() if seed is None else seed
        if isinstance(x, tf.data.Dataset):
            return self.run(model, x, y, target, seed=seed, strategy=strategy, index=index).x_adv

        def attack_batch(keys: tf.Tensor, batch: tuple) -> tf.Tensor:
            xb, yb, tb = batch
            return self._run_batch(model, xb, yb, tb, keys, with_clean=False).x_adv

        parts = map_on_replicas(attack_batch, list(self._keyed_batches(x, y, target, seed, index)), strategy)
        if not parts:
            raise InputError("x is empty: there is nothing to attack.")
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)

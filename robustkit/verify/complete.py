"""Complete verification of a specification within one time limit: bounds, attack, branch and bound.

:func:`verify_specification` answers ``"proved"`` (no input in the box reaches the unsafe set: VNN-LIB's
``unsat``), ``"counterexample"`` (a point that does, confirmed on the float64 model: ``sat``) or
``"unknown"`` (``timeout``). It tries, in order and within ``time_limit`` seconds in all:

1. descent from many random starts over the whole box (:func:`~robustkit.verify.falsify.search_box`);
2. alpha-CROWN on every row of every clause at once (:mod:`robustkit.verify.alpha`): a clause with a
   row proved positive is ruled out;
3. branch and bound on each clause left, the one with the worst bound first, each with the time that
   remains: over ReLU splits with beta-CROWN (:mod:`robustkit.verify.branch_and_bound`), or, for a
   network of at most ``INPUT_SPLIT_LIMIT`` inputs, over halves of the input box
   (:mod:`robustkit.verify.input_splitting`).

An answer is deterministic given ``seed`` (the deadline aside: more time can only settle more).

Example:
    >>> import keras, numpy as np
    >>> from robustkit.verify.specification import robustness_specification
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    >>> verify_specification(model, robustness_specification(np.array([0.8, 0.5]), 0.1, 0, 2)).status
    'proved'
    >>> found = verify_specification(model, robustness_specification(np.array([0.05, 0.5]), 0.1, 0, 2))
    >>> found.status, bool(found.witness[0] <= 0.0)  # 2 x0 <= 0 at x0 = 0
    ('counterexample', True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.errors import ConfigError
from robustkit.logits import as_logits
from robustkit.verify.alpha import AlphaSettings, optimized_bounds
from robustkit.verify.branch_and_bound import prove_clause
from robustkit.verify.falsify import confirmed, float64_twin, search_box
from robustkit.verify.input_splitting import INPUT_SPLIT_LIMIT, split_inputs
from robustkit.verify.linear_bounds import InputRegion
from robustkit.verify.network import network_of
from robustkit.verify.specification import Specification
from robustkit.verify.subdomains import BranchSettings

ANSWERS = {"proved": "unsat", "counterexample": "sat", "unknown": "timeout"}


@dataclass
class Verdict:
    """The answer to one specification.

    ``status``: ``"proved"``, ``"counterexample"`` or ``"unknown"``; ``witness``: the counterexample (the
    model's input shape), with ``outputs`` its float64 outputs; ``stage``: what settled it (``"attack"``,
    ``"bounds"``, ``"branch and bound"``) or why not; ``domains``: subdomains bounded.
    """

    status: str
    seconds: float
    stage: str
    witness: np.ndarray | None = None
    outputs: np.ndarray | None = None
    domains: int = 0

    @property
    def vnnlib_answer(self) -> str:
        """The competition's word for it: ``unsat``, ``sat`` or ``timeout``."""
        return ANSWERS[self.status]


def _checked(model: Any, spec: Specification) -> Any:
    network = network_of(model)
    if tuple(spec.lower.shape) != network.shapes[0]:
        raise ConfigError(f"The specification's box has shape {spec.lower.shape}; the model takes {network.shapes[0]}.")
    if spec.outputs != network.shapes[-1][0]:
        raise ConfigError(f"The specification reads {spec.outputs} outputs; the model has {network.shapes[-1][0]}.")
    return network


def clause_bounds(model: Any, spec: Specification, alpha: AlphaSettings) -> tuple[np.ndarray, list]:
    """alpha-CROWN's lower bound of every clause's best row (a clause is ruled out where it is > 0), and the
    intervals of every node it found."""
    network = _checked(model, spec)
    low, high = spec.outer_box(np.float32)
    shape = (1, *network.shapes[0])
    region = InputRegion(
        tf.constant(((low + high) / 2).reshape(shape)),
        tf.constant(low.reshape(shape)),
        tf.constant(high.reshape(shape)),
        0.0,
        "linf",
    )
    rows = tf.constant(np.concatenate([c.matrix for c in spec.clauses])[None], tf.float32)
    found = optimized_bounds(network, region, rows, alpha)
    values = found.bound.numpy()[0] - np.concatenate([c.offset for c in spec.clauses])
    owner = np.repeat(np.arange(len(spec.clauses)), [len(c.offset) for c in spec.clauses])
    return np.array([values[owner == i].max() for i in range(len(spec.clauses))]), found.intervals


def verify_specification(
    model: Any,
    spec: Specification,
    *,
    time_limit: float = 60.0,
    seed: int = 0,
    settings: BranchSettings | None = None,
    alpha: AlphaSettings | None = None,
) -> Verdict:
    """Prove ``spec`` on ``model`` or find a counterexample, within ``time_limit`` seconds (see the module docstring).

    Args:
        model: a Keras model :func:`~robustkit.verify.network.network_of` reads (ReLU networks for branch and bound).
        spec: the box (in the model's input shape) and the unsafe clauses.
        time_limit: seconds for all stages together.
        seed: the attacks' seed.
        settings, alpha: branch and bound's and alpha-CROWN's settings (their defaults when None).
    """
    if time_limit <= 0:
        raise ConfigError(f"time_limit must be > 0 seconds, got {time_limit!r}.")
    began = time.perf_counter()
    deadline = began + time_limit
    alpha = alpha or AlphaSettings()
    _checked(model, spec)

    def verdict(status: str, stage: str, witness=None, domains: int = 0) -> Verdict:
        outputs = None
        if witness is not None:
            outputs = np.asarray(as_logits(float64_twin(model))(tf.constant(np.asarray(witness, np.float64)[None])))[0]
        return Verdict(status, time.perf_counter() - began, stage, witness, outputs, domains)

    point = search_box(model, spec, seed=seed)
    if confirmed(model, spec, point):
        return verdict("counterexample", "attack", point)
    bounds, intervals = clause_bounds(model, spec, alpha)
    domains = 0
    for clause in np.argsort(bounds, kind="stable"):
        if bounds[clause] > 0:
            continue
        if time.perf_counter() > deadline:
            return verdict("unknown", "time limit", domains=domains)
        if spec.lower.size <= INPUT_SPLIT_LIMIT:
            answer = split_inputs(model, spec, int(clause), deadline=deadline, settings=settings)
        else:
            answer = prove_clause(
                model,
                spec,
                int(clause),
                deadline=deadline,
                seed=seed,
                settings=settings,
                alpha=alpha,
                intervals=intervals,
            )
        domains += answer.domains
        if answer.status == "counterexample":
            return verdict("counterexample", "branch and bound", answer.witness, domains)
        if answer.status != "proved":
            return verdict("unknown", answer.why, domains=domains)
    return verdict("proved", "bounds" if domains == 0 else "branch and bound", domains=domains)

"""Branch and bound over the input box, for networks with few inputs.

With a handful of inputs, splitting the box itself beats splitting ReLUs: every half is bounded
afresh by CROWN (its intermediate intervals recomputed on the smaller box), so the bounds tighten
as the boxes shrink and, unlike ReLU splitting, the search cannot run out of things to split. Each
round bounds up to ``batch`` boxes, worst bound first, in one batched CROWN call. A box whose bound
is positive is done; the others are halved along the input whose width times its coefficient in the
linear bound is largest (the input that costs the bound most), and each one's center and the corner
that minimises its linear bound are tried on the network, a point that violates the clause being
confirmed on the float64 model. The answers and their reasons are those of
:mod:`robustkit.verify.branch_and_bound`.

Example:
    >>> import keras, numpy as np
    >>> from robustkit.verify.specification import robustness_specification
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    >>> label = int(np.argmax(model(np.full((1, 2), 0.5))))
    >>> spec = robustness_specification(np.array([0.5, 0.5]), 0.05, label=label, classes=2)
    >>> split_inputs(model, spec, 0, deadline=float("inf")).status
    'proved'
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.verify.branch_and_bound import ClauseAnswer
from robustkit.verify.falsify import confirmed, stacked_clauses, violation
from robustkit.verify.linear_bounds import InputRegion, crown_intervals, lower_bound
from robustkit.verify.network import network_of
from robustkit.verify.specification import Specification
from robustkit.verify.subdomains import BranchSettings

INPUT_SPLIT_LIMIT = 16  # inputs up to which the complete verifier splits the box rather than ReLUs


def _bounds(network, clause, lower: np.ndarray, upper: np.ndarray):
    """Each box's bound of the clause (its best row) and the coefficients of that row's bound at the input."""
    low, high = tf.constant(lower), tf.constant(upper)
    region = InputRegion((low + high) / 2, low, high, 0.0, "linf")
    rows = tf.constant(clause.clauses[0].matrix, tf.float32)
    spec = tf.repeat(rows[None], len(lower), axis=0)
    seen: dict = {}
    found = lower_bound(network, network.output, spec, crown_intervals(network, region), region, seen=seen)
    values = found.numpy() - clause.clauses[0].offset
    best = np.argmax(values, axis=1)
    return values[np.arange(len(values)), best], seen[0].numpy()[np.arange(len(values)), best]


def _counterexample(model, network, clause: Specification, points: np.ndarray) -> np.ndarray | None:
    if len(points) == 0:
        return None
    matrix, offset, member = stacked_clauses(clause)
    found = violation(network.logits(tf.constant(points)), matrix, offset, member).numpy()
    for i in np.flatnonzero(found <= 0):
        if confirmed(model, clause, points[i]):
            return points[i]
    return None


def _halves(lower: np.ndarray, upper: np.ndarray, coefficients: np.ndarray):
    """Each box cut in two across the input of largest width times absolute coefficient."""
    size = int(np.prod(lower.shape[1:]))
    flat_low, flat_high = lower.reshape(len(lower), size), upper.reshape(len(upper), size)
    cost = (flat_high - flat_low) * (np.abs(coefficients.reshape(len(lower), size)) + 1e-12)
    axis = np.argmax(cost, axis=1)
    rows = np.arange(len(lower))
    middle = (flat_low[rows, axis] + flat_high[rows, axis]) / 2
    left_high, right_low = flat_high.copy(), flat_low.copy()
    left_high[rows, axis], right_low[rows, axis] = middle, middle
    new_low = np.concatenate([flat_low, right_low]).reshape((2 * len(lower), *lower.shape[1:]))
    new_high = np.concatenate([left_high, flat_high]).reshape((2 * len(lower), *lower.shape[1:]))
    return new_low.astype(np.float32), new_high.astype(np.float32)


def split_inputs(
    model: Any, spec: Specification, clause: int, *, deadline: float, settings: BranchSettings | None = None
) -> ClauseAnswer:
    """Input-splitting branch and bound on clause ``clause`` of ``spec`` until ``deadline`` (see the module docstring).

    Args:
        model: a Keras model whose network :func:`~robustkit.verify.network.network_of` reads.
        spec: the specification, its box in the model's input shape.
        clause: which of its clauses to rule out.
        deadline: a ``time.perf_counter()`` value at which to stop with ``"unknown"``.
        settings: the boxes per round and the memory cap (:class:`~robustkit.verify.subdomains.BranchSettings`).
    """
    settings = settings or BranchSettings()
    network = network_of(model)
    single = Specification(spec.lower, spec.upper, (spec.clauses[clause],))
    low, high = spec.outer_box(np.float32)
    lower, upper = low[None].astype(np.float32), high[None].astype(np.float32)
    bounds, domains, root = np.array([-np.inf]), 0, -np.inf
    inner_low, inner_high = single.inner_box(np.float32)
    while len(lower):
        if time.perf_counter() > deadline:
            return ClauseAnswer("unknown", why="time limit", domains=domains, bound=root)
        if 2 * (len(lower) + 2 * settings.batch) * lower[:1].nbytes > settings.memory_cap:
            return ClauseAnswer("unknown", why="memory cap", domains=domains, bound=root)
        order = np.argsort(bounds, kind="stable")
        take, keep = order[: settings.batch], order[settings.batch :]
        found, coefficients = _bounds(network, single, lower[take], upper[take])
        root = float(found[0]) if domains == 0 else root
        domains += len(take)
        open_ = found <= 0
        corners = np.where(coefficients > 0, lower[take], upper[take])
        points = np.concatenate([(lower[take] + upper[take])[open_] / 2, corners[open_]])
        witness = _counterexample(model, network, single, np.clip(points, inner_low, inner_high).astype(np.float32))
        if witness is not None:
            return ClauseAnswer("counterexample", witness=witness, domains=domains, bound=root)
        new_low, new_high = _halves(lower[take][open_], upper[take][open_], coefficients[open_])
        lower, upper = np.concatenate([lower[keep], new_low]), np.concatenate([upper[keep], new_high])
        bounds = np.concatenate([bounds[keep], np.tile(found[open_], 2)])
    return ClauseAnswer("proved", domains=domains, bound=root)

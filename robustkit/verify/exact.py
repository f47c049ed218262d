"""Exact (complete) verification of small ReLU networks as a mixed-integer linear program (Tjeng, Xiao and
Tedrake, ICLR 2019), solved by SciPy's ``milp`` (HiGHS).

Every node's output is a vector of variables. An affine node is an equality ``z = W z_in + b`` (its
matrix read off the layer with vector-Jacobian products); an add node sums its inputs; a (leaky) ReLU
whose input interval ``[l, u]`` straddles zero takes one binary variable and the big-M constraints
with CROWN's ``l`` and ``u`` (the tighter the interval, the smaller the search); a stable one is
linear. For each class ``j`` that CROWN has not already ruled out, the program minimises
``logit[y] - logit[j]`` over the L-inf ball within the bounds: a minimum above zero proves the
example, a point below zero is a counterexample, which is fed to the Keras model to confirm that it
really is misclassified. A witness is returned in x's own dtype and settled inside the ball and the
bounds exactly as an attack's point is (:func:`robustkit.ball.settle`: re-rounded toward x where
rounding put it outside, checked in float64), then classified again: only a settled point that the
model misclassifies makes a counterexample. Past the time limit per example, the answer is
``"unknown"`` unless the solver's dual bound already decides it: the best point found by then
(the incumbent) proves nothing.

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, activation="relu"), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0]], "float32"), np.zeros(2, "float32"),
    ...                    np.array([[1.0, 0.0], [0.0, 1.0]], "float32"), np.array([0.0, 0.1], "float32")])
    >>> found = exact_verify(model, np.array([[0.5]], "float32"), [0], eps=0.3)
    >>> found.status.tolist(), round(float(found.margin[0]), 4)  # relu(x) - 0.1 at x = 0.2
    (['verified'], 0.1)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from robustkit.ball import settle
from robustkit.errors import ConfigError, ModelError
from robustkit.inputs import as_float_tensor
from robustkit.logits import as_logits
from robustkit.verify.intervals import Interval
from robustkit.verify.margins import TOLERANCE, checked_inputs, crown_intervals, input_region, margin_bounds
from robustkit.verify.network import Network
from robustkit.verify.rules import AffineRule

SLACK = 1e-5  # widening of float32 intervals before they become the program's constants


@dataclass
class ExactResult:
    """Per example: ``"verified"``, ``"broken"`` or ``"unknown"``; the smallest margin ``logit[y] - logit[j]``
    the programs reached (where every class was solved to optimality, the exact minimum over the ball; a
    class that CROWN ruled out counts with its bound); the input where it was reached (NaN where no
    program ran); the seconds spent."""

    status: np.ndarray
    margin: np.ndarray
    witness: np.ndarray
    seconds: np.ndarray

    @property
    def counterexample(self) -> np.ndarray:
        """The witnesses of broken examples (the model misclassifies each), NaN elsewhere."""
        broken = (self.status == "broken").reshape((-1,) + (1,) * (self.witness.ndim - 1))
        return np.where(broken, self.witness, np.nan)


class _Program:
    """One example's program: continuous variables for every node's output, binaries for straddling ReLUs,
    and the constraint rows as sparse triplets."""

    def __init__(self, network: Network, intervals: list[Interval]) -> None:
        self.network = network
        self.offsets = np.cumsum([0] + [int(np.prod(shape)) for shape in network.shapes])
        low = np.concatenate([value.numpy().reshape(-1) for value, _ in intervals]).astype(np.float64)
        high = np.concatenate([value.numpy().reshape(-1) for _, value in intervals]).astype(np.float64)
        self.lower = list(low - SLACK * (1 + np.abs(low)))
        self.upper = list(high + SLACK * (1 + np.abs(high)))
        self.integer = [0] * len(self.lower)
        self.entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.row_bounds: list[tuple[np.ndarray, np.ndarray]] = []
        self.rows = 0

    def span(self, k: int) -> np.ndarray:
        return np.arange(self.offsets[k], self.offsets[k + 1])

    def add(self, terms: list[tuple[np.ndarray, Any]], low: np.ndarray, high: np.ndarray) -> None:
        """Rows ``low <= sum of coefficient * variable <= high``; each term gives one (variable, coefficient)
        per row."""
        count = len(low)
        for variables, coefficients in terms:
            rows = self.rows + np.arange(count)
            self.entries.append((rows, variables, np.broadcast_to(coefficients, (count,)).astype(np.float64)))
        self.row_bounds.append((low, high))
        self.rows += count

    def binaries(self, count: int) -> np.ndarray:
        start = len(self.lower)
        self.lower += [0.0] * count
        self.upper += [1.0] * count
        self.integer += [1] * count
        return np.arange(start, start + count)

    def input_of(self, k: int) -> int:
        return self.network.nodes[k].inputs[0]

    def affine_matrix(self, rule: AffineRule, k: int) -> tuple[sparse.csr_matrix, np.ndarray]:
        """``(W, b)`` of affine node ``k`` as a sparse matrix over flattened inputs and outputs."""
        size = int(np.prod(self.network.shapes[k]))
        rows = tf.reshape(tf.eye(size), (1, size, *self.network.shapes[k]))
        backward, offset = rule.backward(rows, self.network.shapes[self.input_of(k)])
        matrix = tf.reshape(backward, (size, -1)).numpy().astype(np.float64)
        return sparse.csr_matrix(matrix), offset.numpy().reshape(-1).astype(np.float64)

    def sum(self, k: int) -> None:
        """``z_k - sum of its inputs = 0``."""
        out = self.span(k)
        terms = [(out, np.ones(len(out)))] + [(self.span(i), -np.ones(len(out))) for i in self.network.nodes[k].inputs]
        self.add(terms, np.zeros(len(out)), np.zeros(len(out)))

    def affine(self, k: int, matrix: sparse.csr_matrix, offset: np.ndarray) -> None:
        """``z_k - W z_in = b``."""
        coo = matrix.tocoo()
        out = self.span(k)
        self.entries.append((self.rows + coo.row, self.span(self.network.nodes[k].inputs[0])[coo.col], -coo.data))
        self.add([(out, np.ones(len(out)))], offset, offset)

    def relu(self, k: int, slope: float, low: np.ndarray, high: np.ndarray) -> None:
        """``z = max(x, slope x)``: linear where the input's interval is on one side of zero, big-M elsewhere."""
        x, z = self.span(self.network.nodes[k].inputs[0]), self.span(k)
        stable = (low >= 0) | (high <= 0)
        gain = np.where(low >= 0, 1.0, slope)[stable]
        zero = np.zeros(int(stable.sum()))
        self.add([(z[stable], 1.0), (x[stable], -gain)], zero, zero)
        x, z, low, high = x[~stable], z[~stable], low[~stable], high[~stable]
        d, n = self.binaries(len(x)), len(x)
        big = np.full(n, np.inf)
        self.add([(z, 1.0), (x, -1.0)], np.zeros(n), big)  # z >= x
        self.add([(z, 1.0), (x, -slope)], np.zeros(n), big)  # z >= slope x
        self.add([(z, 1.0), (x, -1.0), (d, (slope - 1) * low)], -big, (slope - 1) * low)  # z <= x + (s-1) l (1-d)
        self.add([(z, 1.0), (x, -slope), (d, -(1 - slope) * high)], -big, np.zeros(n))  # z <= s x + (1-s) u d

    def constraint(self) -> LinearConstraint:
        rows, columns, values = (np.concatenate(part) for part in zip(*self.entries))
        matrix = sparse.csr_matrix((values, (rows, columns)), shape=(self.rows, len(self.lower)))
        low = np.concatenate([b[0] for b in self.row_bounds])
        high = np.concatenate([b[1] for b in self.row_bounds])
        return LinearConstraint(matrix, low, high)


def _program(network: Network, intervals: list[Interval], matrices: dict) -> _Program:
    """The program of one example: each node's rule adds its rows (``matrices``: the affine nodes'
    ``(W, b)``, read once per call and shared by the examples)."""
    program = _Program(network, intervals)
    for k, node in enumerate(network.nodes[1:], start=1):
        node.rule.encode(program, k, intervals, matrices)
    return program


def exact_unsupported(network: Network) -> str | None:
    """Why the exact verifier cannot encode a network (its first layer whose rule has no encoding: max
    pooling, a smooth activation), or None when it can: known before any work, from the layers alone."""
    for node in network.nodes[1:]:
        if node.rule.milp_unsupported is not None:
            what = node.rule.milp_unsupported
            return f"exact verification encodes affine layers, Add and (leaky) ReLU; layer {node.name!r} is {what}"
    return None


def _supported(network: Network) -> None:
    reason = exact_unsupported(network)
    if reason is not None:
        raise ModelError(f"{reason[0].upper()}{reason[1:]}. Use margin_bounds (sound bounds) for this model.")


def _solve_class(program, constraint, objective, remaining: float):
    """``(lower bound of the minimum, best value found, its point)`` of ``objective . z`` within the time."""
    result = milp(
        objective,
        integrality=np.array(program.integer),
        bounds=Bounds(np.array(program.lower), np.array(program.upper)),
        constraints=constraint,
        options={"time_limit": max(remaining, 0.01)},
    )
    found = result.fun if result.x is not None else np.inf
    # The solver's dual bound, not its optimum: "optimal" allows a small relative gap above the true minimum.
    proved = getattr(result, "mip_dual_bound", None)
    if proved is None and result.status == 0:
        proved = result.fun
    return (-np.inf if proved is None else float(proved)), float(found), result.x


@dataclass
class _Found:
    status: str = "verified"
    margin: float = np.inf  # the smallest margin found or proved
    witness: np.ndarray | None = None  # the input where the program found it


def _settled(point: np.ndarray, program: _Program, network: Network, x: tf.Tensor, eps: float, box) -> np.ndarray:
    """The program's input (float64) in x's dtype, inside the ball and the bounds as the attacks' points are."""
    found = tf.constant(point[program.span(0)].reshape((1,) + network.shapes[0]), tf.float64)
    return settle(x, tf.cast(found, x.dtype), eps, "linf", box[0], box[1])[0].numpy()


def _misclassified(model, witness: np.ndarray, label: int) -> bool:
    return int(np.argmax(as_logits(model)(tf.constant(witness[None]))[0])) != label


def _example(network, matrices, model, label: int, region, budget: float, prune_bounds, scale: float, x, box):
    """One example's answer (``x``: the example in its own dtype, ``box``: the bounds)."""
    intervals = crown_intervals(network, region)
    program = _program(network, intervals, matrices)
    constraint = program.constraint()
    out = program.span(network.output)
    began, found = time.perf_counter(), _Found()
    for j in (j for j in range(len(out)) if j != label):
        if prune_bounds[j] > TOLERANCE * scale:
            found.margin = min(found.margin, float(prune_bounds[j]))
            continue
        objective = np.zeros(len(program.lower))
        objective[out[label]], objective[out[j]] = 1.0, -1.0
        proved, value, point = _solve_class(program, constraint, objective, budget - (time.perf_counter() - began))
        if point is not None and value < found.margin:
            found.margin, found.witness = value, _settled(point, program, network, x, region.eps, box)
            if value < 0 and _misclassified(model, found.witness, label):
                found.status = "broken"
                return found
        if proved <= TOLERANCE * scale:
            found.status = "unknown"
    return found


def exact_verify(
    model, x, y, eps: float | str, *, bounds=(0.0, 1.0), time_limit: float = 10.0, prune: bool = True
) -> ExactResult:
    """Decide each example exactly over the L-inf ball of radius ``eps`` (input units, or ``"8/255"`` of the
    range) within ``bounds`` (see the module docstring): ``"verified"``, ``"broken"`` (with a counterexample
    the model misclassifies) or ``"unknown"`` after ``time_limit`` seconds.

    Args:
        model: a Keras model of affine layers, Add and (leaky) ReLUs (:func:`exact_unsupported` says why not).
        x, y: the examples and their labels.
        eps: the L-inf radius.
        bounds: the inputs' range, which the ball is cut to.
        time_limit: seconds per example; past it an undecided example is ``"unknown"``.
        prune: skip the classes that CROWN's bounds already rule out.
    """
    network, tensor, labels, radius, box = checked_inputs(model, x, y, eps, "linf", bounds, "crown")
    original = as_float_tensor(x)  # witnesses are settled around x in its own dtype
    _supported(network)
    if time_limit <= 0:
        raise ConfigError(f"time_limit must be > 0 seconds, got {time_limit!r}.")
    classes = network.shapes[-1][0]
    pruning = margin_bounds(model, tensor, labels.numpy(), radius, bounds=bounds, method="best") if prune else None
    matrices: dict = {}  # filled by the first example's program
    statuses, margins, seconds = [], [], []
    witnesses = np.full(tuple(tensor.shape), np.nan, original.dtype.as_numpy_dtype)
    for i in range(int(tensor.shape[0])):
        began = time.perf_counter()
        region = input_region(tensor[i : i + 1], radius, "linf", box)
        prune_bounds = pruning.lower[i] if pruning is not None else np.full(classes, -np.inf)
        scale = (
            float(pruning.scale[i])
            if pruning is not None
            else 1.0 + float(np.abs(network.logits(tensor[i : i + 1])).max())
        )
        label = int(labels[i])
        found = _example(
            network, matrices, model, label, region, time_limit, prune_bounds, scale, original[i : i + 1], box
        )
        statuses.append(found.status)
        margins.append(found.margin)
        if found.witness is not None:
            witnesses[i] = found.witness
        seconds.append(time.perf_counter() - began)
    return ExactResult(np.array(statuses), np.array(margins), witnesses, np.array(seconds))

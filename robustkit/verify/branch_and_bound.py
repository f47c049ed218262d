"""Branch and bound over ReLU splits: prove one clause of a specification unreachable, or find a counterexample.

The search keeps the subdomains whose bound is not yet positive, worst bound first. Each round takes
up to ``batch`` of them, splits each on its best-scoring ReLU (:func:`~robustkit.verify.subdomains.branching_scores`)
into an active and an inactive child, and bounds all children in one call with beta-CROWN
(:func:`~robustkit.verify.subdomains.bound_batch`), starting from the parent's slopes and multipliers.
A child whose bound is positive is done; the others return to the queue. Each child's candidate input
(the box corner minimising its linear bound) is tried on the network, and every ``attack_every``
rounds a descent (:func:`~robustkit.verify.falsify.search_box`) starts from the worst subdomains'
candidates; a point that violates the clause is confirmed on the float64 model before it counts.

The answer is ``"proved"`` when the queue empties, ``"counterexample"`` with a confirmed point,
and ``"unknown"`` at the deadline, when the stored subdomains would pass the memory cap, or when a
subdomain has no unstable ReLU left to split. No subdomain is ever dropped unproved.

Example:
    >>> import keras, numpy as np
    >>> from robustkit.verify.specification import robustness_specification
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    >>> label = int(np.argmax(model(np.full((1, 2), 0.5))))
    >>> spec = robustness_specification(np.array([0.5, 0.5]), 0.01, label=label, classes=2)
    >>> prove_clause(model, spec, 0, deadline=float("inf")).status
    'proved'
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import tensorflow as tf

from robustkit.verify.alpha import AlphaSettings, optimized_bounds, relu_nodes
from robustkit.verify.falsify import confirmed, search_box, stacked_clauses, violation
from robustkit.verify.linear_bounds import InputRegion
from robustkit.verify.network import network_of
from robustkit.verify.specification import Specification
from robustkit.verify.subdomains import BranchSettings, bound_batch, branching_scores, clamp


@dataclass
class ClauseAnswer:
    """How one clause ended: ``"proved"``, ``"counterexample"`` (with ``witness``) or ``"unknown"`` (with ``why``)."""

    status: str
    witness: np.ndarray | None = None
    why: str = ""
    domains: int = 0  # subdomains bounded
    bound: float = -np.inf  # the root's bound (the largest of the clause's rows)


@dataclass
class _Queue:
    """Unproved subdomains as arrays whose first axis is the subdomain."""

    splits: dict[int, np.ndarray]
    slopes: dict[int, np.ndarray]
    betas: dict[int, np.ndarray]
    bounds: np.ndarray
    choice: np.ndarray  # the neuron each would split on next (a flat index over all ReLU nodes)
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.bounds)

    def _rows(self, index: np.ndarray) -> _Queue:
        pick = lambda d: {k: v[index] for k, v in d.items()}  # noqa: E731
        return _Queue(pick(self.splits), pick(self.slopes), pick(self.betas), self.bounds[index], self.choice[index])

    def bytes_each(self) -> int:
        arrays = [*self.splits.values(), *self.slopes.values(), *self.betas.values()]
        return max(1, sum(a[:1].nbytes for a in arrays))


class _Pool:
    """The unproved subdomains in arrays of fixed capacity (the memory cap), and a heap of their bounds: a
    round takes the worst ``batch`` and adds their children at a cost in the batch, not in the pool."""

    def __init__(self, template: _Queue, capacity: int) -> None:
        empty = lambda d: {k: np.empty((capacity, *v.shape[1:]), v.dtype) for k, v in d.items()}  # noqa: E731
        self.splits, self.slopes, self.betas = empty(template.splits), empty(template.slopes), empty(template.betas)
        self.choice = np.zeros(capacity, np.int64)
        self.free = list(range(capacity - 1, -1, -1))
        self.heap: list[tuple[float, int, int]] = []  # (bound, order added, slot)
        self.added = 0

    def __len__(self) -> int:
        return len(self.heap)

    def room(self) -> int:
        return len(self.free)

    def add(self, queue: _Queue) -> None:
        """Store every subdomain of ``queue`` (the caller checks :meth:`room` first)."""
        slots = np.array([self.free.pop() for _ in range(len(queue))], np.int64)
        for mine, theirs in ((self.splits, queue.splits), (self.slopes, queue.slopes), (self.betas, queue.betas)):
            for k, v in theirs.items():
                mine[k][slots] = v
        self.choice[slots] = queue.choice
        for bound, slot in zip(queue.bounds.tolist(), slots.tolist()):
            heapq.heappush(self.heap, (bound, self.added, slot))
            self.added += 1

    def take(self, count: int) -> _Queue:
        """The ``count`` subdomains of lowest bound, removed from the pool."""
        entries = [heapq.heappop(self.heap) for _ in range(min(count, len(self.heap)))]
        slots = np.array([slot for _, _, slot in entries], np.int64)
        pick = lambda d: {k: v[slots] for k, v in d.items()}  # noqa: E731
        found = _Queue(
            pick(self.splits),
            pick(self.slopes),
            pick(self.betas),
            np.array([b for b, _, _ in entries]),
            self.choice[slots],
        )
        self.free.extend(slots.tolist())
        return found


def _children(queue: _Queue, network, offsets: list[int], sizes: list[int], nodes: list[int]) -> _Queue:
    """Each subdomain split on its chosen neuron: the active children first, then the inactive ones."""
    splits = {m: np.concatenate([v, v]) for m, v in queue.splits.items()}
    count = len(queue)
    for i, flat in enumerate(queue.choice):
        layer = int(np.searchsorted(offsets, flat, side="right") - 1)
        m, index = nodes[layer], int(flat - offsets[layer])
        splits[m][i].reshape(-1)[index] = 1
        splits[m][count + i].reshape(-1)[index] = -1
    double = lambda d: {k: np.concatenate([v, v]) for k, v in d.items()}  # noqa: E731
    return _Queue(
        splits, double(queue.slopes), double(queue.betas), np.concatenate([queue.bounds] * 2), np.zeros(2 * count, int)
    )


class _Search:
    """One clause's branch and bound (see the module docstring)."""

    def __init__(self, model: Any, spec: Specification, clause: int, settings: BranchSettings, alpha: AlphaSettings):
        self.model, self.spec, self.settings = model, spec, settings
        self.network = network = network_of(model)
        self.clause = Specification(spec.lower, spec.upper, (spec.clauses[clause],))
        self.rows = tf.constant(spec.clauses[clause].matrix, tf.float32)
        self.offset = tf.constant(spec.clauses[clause].offset, tf.float32)
        low, high = spec.outer_box(np.float32)
        shape = (1, *network.shapes[0])
        center = tf.constant(((low + high) / 2).reshape(shape))
        self.region = InputRegion(
            center, tf.constant(low.reshape(shape)), tf.constant(high.reshape(shape)), 0.0, "linf"
        )
        self.relus = relu_nodes(network)
        self.nodes = [network.nodes[r].inputs[0] for r in self.relus]
        self.sizes = [int(np.prod(network.shapes[m])) for m in self.nodes]
        self.offsets = list(np.cumsum([0] + self.sizes[:-1]))
        self.alpha = alpha
        self.base: list | None = None
        self.domains = 0

    def tiled(self, tensor: tf.Tensor, count: int) -> tf.Tensor:
        return tf.repeat(tensor, count, axis=0)

    def root(self) -> tuple[_Queue, float]:
        spec = self.rows[None]
        if self.base is None:
            found = optimized_bounds(self.network, self.region, spec, self.alpha)
        else:  # the intermediate bounds are given: optimize the clause's own slopes only
            found = optimized_bounds(
                self.network, self.region, spec, replace(self.alpha, intermediate=False), self.base
            )
        self.intervals = found.intervals
        rows = int(spec.shape[1])
        splits = {m: np.zeros((1, *self.network.shapes[m]), np.int8) for m in self.nodes}
        slopes = {r: found.slopes[r].numpy() for r in self.relus}
        betas = {m: np.zeros((1, rows, *self.network.shapes[m]), np.float32) for m in self.nodes}
        queue = _Queue(splits, slopes, betas, np.zeros(1), np.zeros(1, int))
        return self.bound(queue), float(np.max(found.bound.numpy() - self.offset.numpy()))

    def bound(self, queue: _Queue) -> _Queue:
        """Bound every subdomain of ``queue``; keep their new bounds, slopes, multipliers and next splits."""
        count = len(queue)
        tiled = [self.tiled(t, count) for t in (self.region.center, self.region.lower, self.region.upper)]
        region = InputRegion(tiled[0], tiled[1], tiled[2], 0.0, "linf")
        intervals = [(self.tiled(lo, count), self.tiled(hi, count)) for lo, hi in self.intervals]
        spec = tf.repeat(self.rows[None], count, axis=0)
        as_tensors = lambda d: {k: tf.constant(v) for k, v in d.items()}  # noqa: E731
        best, slopes, betas, weights, corner = bound_batch(
            self.network,
            region,
            intervals,
            spec,
            self.offset,
            as_tensors(queue.splits),
            as_tensors(queue.slopes),
            as_tensors(queue.betas),
            self.settings,
        )
        self.domains += count
        lower = {m: clamp(intervals[m][0].numpy(), intervals[m][1].numpy(), queue.splits[m]) for m in self.nodes}
        scores = (
            np.full((count, 1), -np.inf)
            if not self.relus
            else branching_scores(
                self.network,
                {m: v[0] for m, v in lower.items()},
                {m: v[1] for m, v in lower.items()},
                queue.splits,
                {r: w.numpy() for r, w in weights.items()},
            )
        )
        found = _Queue(
            queue.splits,
            {r: v.numpy() for r, v in slopes.items()},
            {m: v.numpy() for m, v in betas.items()},
            np.max(best.numpy(), axis=1),
            np.argmax(scores, axis=1),
        )
        found.extra = {"corner": corner.numpy(), "splittable": np.isfinite(np.max(scores, axis=1))}
        return found

    def counterexample(self, points: np.ndarray) -> np.ndarray | None:
        """The first of ``points`` that violates the clause on the network and is confirmed in float64."""
        if len(points) == 0:
            return None
        low, high = self.clause.inner_box(np.float32)
        points = np.clip(points, low, high).astype(np.float32)
        matrix, offset, member = stacked_clauses(self.clause)
        found = violation(self.network.logits(tf.constant(points)), matrix, offset, member).numpy()
        for i in np.argsort(found, kind="stable"):
            if found[i] > 0:
                break
            if confirmed(self.model, self.clause, points[i]):
                return points[i]
        return None

    def attack(self, starts: np.ndarray, seed: int) -> np.ndarray | None:
        point = search_box(self.model, self.clause, starts=16, steps=30, seed=seed, from_points=starts)
        return self.counterexample(point[None])

    def run(self, deadline: float, seed: int) -> ClauseAnswer:
        queue, root = self.root()
        answer = lambda status, **kw: ClauseAnswer(status, domains=self.domains, bound=root, **kw)  # noqa: E731
        witness = self.counterexample(queue.extra["corner"])
        if witness is not None:
            return answer("counterexample", witness=witness)
        if not np.all(queue.extra["splittable"][queue.bounds <= 0]):
            return answer("unknown", why="a subdomain has no unstable ReLU left to split")
        pool = _Pool(queue, max(2 * self.settings.batch + 1, self.settings.memory_cap // queue.bytes_each()))
        pool.add(queue._rows(np.flatnonzero(queue.bounds <= 0)))
        rounds = 0
        while len(pool):
            if time.perf_counter() > deadline:
                return answer("unknown", why="time limit")
            if (len(pool) + 2 * self.settings.batch) * queue.bytes_each() > self.settings.memory_cap:
                return answer("unknown", why="memory cap")  # the children might not fit: never drop a subdomain
            picked = pool.take(self.settings.batch)
            children = self.bound(_children(picked, self.network, self.offsets, self.sizes, self.nodes))
            if not np.all(children.extra["splittable"][children.bounds <= 0]):
                return answer("unknown", why="a subdomain has no unstable ReLU left to split")
            witness = self.counterexample(children.extra["corner"][children.bounds <= 0])
            rounds += 1
            if witness is None and rounds % self.settings.attack_every == 0:
                worst = children.extra["corner"][np.argsort(children.bounds, kind="stable")[:16]]
                witness = self.attack(worst, seed + rounds)
            if witness is not None:
                return answer("counterexample", witness=witness)
            pool.add(children._rows(np.flatnonzero(children.bounds <= 0)))
        return answer("proved")


def prove_clause(
    model: Any,
    spec: Specification,
    clause: int,
    *,
    deadline: float,
    seed: int = 0,
    settings: BranchSettings | None = None,
    alpha: AlphaSettings | None = None,
    intervals: list | None = None,
) -> ClauseAnswer:
    """Branch and bound on clause ``clause`` of ``spec`` until ``deadline`` (a ``time.perf_counter()`` value).

    Args:
        model: a Keras model whose ReLU network :func:`~robustkit.verify.network.network_of` reads.
        spec: the specification, its box in the model's input shape.
        clause: which of its clauses to rule out.
        deadline: when to stop with ``"unknown"``.
        seed: the attacks' seed (the answer is deterministic given it).
        settings, alpha: the search's and the root bound's settings (their defaults when None).
        intervals: sound intervals of every node over the box (alpha-CROWN's, shared by all clauses), else
            computed here.
    """
    search = _Search(model, spec, clause, settings or BranchSettings(), alpha or AlphaSettings())
    search.base = intervals
    return search.run(deadline, seed)

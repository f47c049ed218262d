"""Bounding a batch of subdomains with beta-CROWN (Wang et al., NeurIPS 2021), and choosing where to split.

A subdomain of the input box fixes the sign of some ReLU inputs: split ``+1`` asserts ``z >= 0``
(active), ``-1`` asserts ``z <= 0`` (inactive). Its intervals are the root's, clamped at the split
neurons, so a split ReLU is exactly linear there. The constraints themselves enter the bound by
Lagrange multipliers ``beta >= 0``: for ``z >= 0`` the objective gains ``-beta z``, for ``z <= 0``
``+beta z``; each term is at most 0 inside the subdomain, so the bound stays a lower bound of the
objective over it. The multipliers and the ReLU slopes (alpha) are raised together by projected
gradient ascent (:mod:`robustkit.verify.ascent`). One compiled call bounds a whole batch of
subdomains; it also returns what the search needs next: the coefficients on each ReLU's output (for
the branching score) and the corner of the box that minimises each final linear bound (a candidate
counterexample).

The branching score is BaBSR's idea (Bunel et al., JMLR 2020): split the neuron whose relaxation
costs the bound most, estimated as ``max(-lambda, 0)`` times the intercept of its upper line plus a
small share of ``|lambda| * min(u, -l)``, where ``lambda`` is the coefficient on its output.

Example:
    >>> import numpy as np
    >>> clamp(np.array([[-1.0, -2.0]]), np.array([[1.0, 3.0]]), np.array([[1, -1]], np.int8))
    (array([[ 0., -2.]]), array([[1., 0.]]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from robustkit.tracing import compiled
from robustkit.verify.alpha import negative_slope
from robustkit.verify.ascent import ascend
from robustkit.verify.linear_bounds import InputRegion, lower_bound
from robustkit.verify.network import Network


@dataclass(frozen=True)
class BranchSettings:
    """How branch and bound works.

    Args:
        batch: subdomains split per round (each gives two children, bounded in one call).
        iterations: alpha/beta ascent steps per bounding call.
        alpha_rate, beta_rate: the ascent's step sizes for slopes and multipliers.
        memory_cap: bytes the stored subdomains may take; beyond it the answer is ``"unknown"``.
        attack_every: rounds between attacks started from the most promising subdomains' candidates.
    """

    batch: int = 256
    iterations: int = 10
    alpha_rate: float = 0.1
    beta_rate: float = 0.05
    memory_cap: int = 1 << 30
    attack_every: int = 10


def clamp(lower: np.ndarray, upper: np.ndarray, split: np.ndarray):
    """A neuron's interval inside a subdomain: ``[max(l, 0), u]`` when active, ``[l, min(u, 0)]`` when inactive."""
    return np.where(split > 0, np.maximum(lower, 0), lower), np.where(split < 0, np.minimum(upper, 0), upper)


def _clamped(intervals, splits: dict[int, tf.Tensor]):
    found = list(intervals)
    for m, split in splits.items():
        low, high = found[m]
        found[m] = (tf.where(split > 0, tf.maximum(low, 0.0), low), tf.where(split < 0, tf.minimum(high, 0.0), high))
    return found


def split_terms(splits: dict[int, tf.Tensor], betas: dict[int, tf.Tensor]) -> dict[int, tf.Tensor]:
    """The Lagrange terms on each split node's output: ``-beta`` on active splits, ``+beta`` on inactive ones."""
    return {m: -tf.cast(split, betas[m].dtype)[:, None] * betas[m] for m, split in splits.items()}


def bound_batch(
    network: Network,
    region: InputRegion,
    intervals: list,
    spec: tf.Tensor,
    offset: tf.Tensor,
    splits: dict[int, tf.Tensor],
    slopes: dict[int, tf.Tensor],
    betas: dict[int, tf.Tensor],
    settings: BranchSettings,
):
    """Bound ``spec . y - offset`` on each subdomain of a batch (one compiled call).

    Args:
        network: the model's network.
        region: the input box, one copy per subdomain.
        intervals: the root's intervals of every node, one copy per subdomain.
        spec, offset: the rows, shape ``(batch, rows, outputs)``, and their offsets ``(rows,)``.
        splits: per split node (the input of a ReLU), ``(batch, *shape)`` of -1, 0, +1.
        slopes, betas: starting alpha per ReLU node and beta per split node, ``(batch, rows, *shape)``.
        settings: the ascent's settings.

    Returns:
        The bounds ``(batch, rows)``, the last slopes and multipliers, the coefficients on each ReLU
        node's output summed over rows, and the candidate input per subdomain.
    """
    relus, nodes = sorted(slopes), sorted(splits)
    limits = [(negative_slope(network, r), 1.0) for r in relus] + [(0.0, np.inf)] * len(nodes)
    rates = [settings.alpha_rate] * len(relus) + [settings.beta_rate] * len(nodes)

    def build():
        def run(center, lower, upper, eps, intervals, spec, offset, splits, start):
            box = InputRegion(center, lower, upper, eps, region.norm)
            clamped = _clamped(intervals, dict(zip(nodes, splits)))
            split_of = dict(zip(nodes, splits))

            def objective(values, seen=None):
                chosen, multipliers = dict(zip(relus, values[: len(relus)])), dict(zip(nodes, values[len(relus) :]))
                terms = split_terms(split_of, multipliers)
                found = lower_bound(network, network.output, spec, clamped, box, chosen, terms, seen)
                return found - offset, []

            best, _, last = ascend(objective, start, limits, settings.iterations, rates)
            seen: dict = {}
            objective(last, seen)
            coefficients = tf.reduce_sum(seen[0], axis=1)
            corner = tf.where(coefficients > 0, lower, upper)
            weights = [tf.reduce_sum(seen[r], axis=1) if r in seen else tf.zeros_like(clamped[r][0]) for r in relus]
            return best, last, weights, corner

        return run

    key = ("beta-crown", region.norm, tuple(relus), tuple(nodes), settings)
    start = [slopes[r] for r in relus] + [betas[m] for m in nodes]
    eps = tf.constant(region.eps, region.center.dtype)
    best, last, weights, corner = compiled(network, key, build)(
        region.center, region.lower, region.upper, eps, list(intervals), spec, offset, [splits[m] for m in nodes], start
    )
    return (
        best,
        dict(zip(relus, last[: len(relus)])),
        dict(zip(nodes, last[len(relus) :])),
        dict(zip(relus, weights)),
        corner,
    )


def branching_scores(
    network: Network, lower: dict[int, np.ndarray], upper: dict[int, np.ndarray], splits, weights
) -> np.ndarray:
    """Each subdomain's score of every ReLU neuron, all ReLU nodes flattened in order; ``-inf`` where a
    neuron is split already or stable (nothing to gain). ``lower``/``upper``: clamped, per split node."""
    scores = []
    for relu, weight in weights.items():
        m = network.nodes[relu].inputs[0]
        low, high, split = lower[m], upper[m], splits[m]
        slope = negative_slope(network, relu)
        open_ = (low < 0) & (high > 0) & (split == 0)
        width = np.where(open_, high - low, 1.0)
        intercept = np.where(open_, -(1 - slope) * high * low / width, 0.0)
        lam = np.asarray(weight).reshape(low.shape)
        score = np.maximum(-lam, 0) * intercept + 1e-3 * np.abs(lam) * np.minimum(high, -low)
        scores.append(np.where(open_, score, -np.inf).reshape(len(low), -1))
    return np.concatenate(scores, axis=1)

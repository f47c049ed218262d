"""Branch and bound: its answers against a dense grid and the exact verifier, its multipliers' sign, and
what it must say when it runs out of time or memory."""

from __future__ import annotations

import functools
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.verify import exact_verify
from robustkit.verify.alpha import relu_nodes
from robustkit.verify.branch_and_bound import prove_clause
from robustkit.verify.complete import verify_specification
from robustkit.verify.linear_bounds import InputRegion, crown_intervals
from robustkit.verify.network import network_of
from robustkit.verify.specification import robustness_specification
from robustkit.verify.subdomains import BranchSettings, bound_batch
from tests.relu_networks import dense_relu_network, forward64, grid


@functools.cache
def _hard_case():
    """A 2-input network and a ball where alpha-CROWN alone cannot prove robustness but it holds
    (checked on a 201 x 201 grid), so branch and bound has work to do."""
    model = dense_relu_network(18, 2, [12, 12], 3)
    center = np.array([0.2, -0.3])
    label = int(np.argmax(forward64(model, center[None])))
    return model, robustness_specification(center, 0.5, label, 3, bounds=(-5, 5)), label


def test_the_hard_case_holds_on_a_grid_and_needs_branching():
    model, spec, label = _hard_case()
    outputs = forward64(model, grid(spec.lower, spec.upper, 201))
    assert not spec.violated(outputs).any()
    answer = prove_clause(model, spec, _worst_clause(model, spec), deadline=time.perf_counter() + 20)
    assert answer.status == "proved" and answer.bound < 0 and answer.domains > 1


def _worst_clause(model, spec) -> int:
    from robustkit.verify.alpha import AlphaSettings
    from robustkit.verify.complete import clause_bounds

    return int(np.argmin(clause_bounds(model, spec, AlphaSettings())[0]))


@pytest.mark.slow
@settings(max_examples=10)  # each example compiles a new network's bounds (seconds)
@given(st.integers(0, 10_000), st.floats(0.05, 0.6), st.sampled_from([0.0, 0.2]))
def test_answers_never_contradict_a_dense_grid(seed, eps, leaky):
    """'proved' never meets a grid point in the unsafe set; a counterexample is in the box and unsafe in
    an independent float64 forward pass of the weights."""
    keras.utils.set_random_seed(seed)
    model = dense_relu_network(seed, 2, [10, 10], 3, leaky)
    center = np.random.default_rng(seed).uniform(-1, 1, 2)
    label = int(np.argmax(forward64(model, center[None], leaky)))
    spec = robustness_specification(center, eps, label, 3, bounds=(-5, 5))
    found = verify_specification(model, spec, time_limit=20, seed=seed)
    unsafe = spec.violated(forward64(model, grid(spec.lower, spec.upper, 121), leaky))
    if found.status == "proved":
        assert not unsafe.any()
    if found.status == "counterexample":
        assert spec.contains(found.witness)
        assert spec.violated(forward64(model, found.witness[None], leaky))[0]
    if not unsafe.any():
        assert found.status != "counterexample"


@pytest.mark.slow
@settings(max_examples=6)
@given(st.integers(0, 10_000))
def test_answers_agree_with_the_exact_verifier(seed):
    model = dense_relu_network(seed, 4, [12, 12], 3)
    center = np.random.default_rng(seed).uniform(0.2, 0.8, 4).astype("float32")
    label = int(np.argmax(forward64(model, center[None])))
    exact = exact_verify(model, center[None], [label], 0.15, bounds=(0.0, 1.0), time_limit=20)
    found = verify_specification(model, robustness_specification(center, 0.15, label, 3), time_limit=20, seed=seed)
    decided = {"verified": "proved", "broken": "counterexample"}
    if exact.status[0] in decided and found.status != "unknown":
        assert found.status == decided[exact.status[0]]


def test_split_multipliers_keep_each_subdomains_bound_below_its_sampled_minimum():
    """Fix the signs of some neurons to those at a point, so the subdomain is not empty, and bound it with
    multipliers optimized hard: the bound stays below every sampled point of the subdomain."""
    model, spec, label = _hard_case()
    network = network_of(model)
    low, high = spec.outer_box(np.float32)
    region = InputRegion(*(tf.constant(v[None]) for v in ((low + high) / 2, low, high)), 0.0, "linf")
    intervals = crown_intervals(network, region)
    points = grid(spec.lower, spec.upper, 101)
    first = network.nodes[relu_nodes(network)[0]].inputs[0]
    weights = model.get_weights()
    pre = points @ weights[0].astype(np.float64) + weights[1]  # the first ReLU's inputs at every point
    split = np.where(np.arange(12) < 4, np.sign(pre[len(points) // 3]), 0).astype(np.int8)
    inside = np.all((pre * split >= 0) | (split == 0), axis=1)
    rows = np.eye(3)[label][None] - np.eye(3)[[j for j in range(3) if j != label]][:1]
    relus = relu_nodes(network)
    slopes = {r: tf.ones((1, 1, *network.shapes[r])) for r in relus}
    splits = {m: tf.zeros((1, *network.shapes[m]), tf.int8) for m in (network.nodes[r].inputs[0] for r in relus)}
    splits[first] = tf.constant(split[None])
    betas = {m: tf.zeros((1, 1, *network.shapes[m])) for m in splits}
    settings = BranchSettings(iterations=60, beta_rate=0.5)
    best = bound_batch(
        network, region, intervals, tf.constant(rows[None], tf.float32), tf.zeros(1), splits, slopes, betas, settings
    )[0]
    truth = (forward64(model, points[inside]) @ rows.T).min()
    assert float(best[0, 0]) <= truth + 1e-4


def test_a_time_out_is_unknown_never_proved():
    model, spec, _ = _hard_case()
    answer = prove_clause(model, spec, _worst_clause(model, spec), deadline=time.perf_counter() - 1)
    assert answer.status == "unknown" and answer.why == "time limit"


def test_no_subdomain_is_dropped_when_memory_runs_out():
    model, spec, _ = _hard_case()
    tiny = BranchSettings(memory_cap=1)
    answer = prove_clause(model, spec, _worst_clause(model, spec), deadline=time.perf_counter() + 60, settings=tiny)
    assert answer.status == "unknown" and answer.why == "memory cap"


def test_the_answer_is_the_same_under_the_same_seed():
    model, spec, _ = _hard_case()
    first = verify_specification(model, spec, time_limit=60, seed=3)
    second = verify_specification(model, spec, time_limit=60, seed=3)
    assert (first.status, first.domains) == (second.status, second.domains) == ("proved", first.domains)

"""Results do not depend on how the work is cut: any batch size, any split of the data into parts
or shards gives bit-identical adversarial examples and results.

Every random draw is keyed by the seed and the example's index in the data set, and no step of
an attack mixes examples. The model under test must compute each example alike in any batch:
``tests.check_models:nearest_mean`` and ``wavy_mean`` do (elementwise operations and per-example reductions).
TensorFlow's dense and convolution kernels round differently for different batch sizes, so with
them results agree to float rounding, not always bit for bit (README, "When one machine is not enough").
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.attacks import APGD, APGDT, FAB, PGD, AttackResult, AutoAttack, Square
from robustkit.evaluation.results_columns import example_columns
from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from tests.check_models import nearest_mean, wavy_mean

N = 12
# Small budgets, every kind of random draw: starts in each ball, restarts, random targets,
# APGD-T's guided runs on the survivors, Square's windows, FAB's random restarts, early stopping
# that shrinks batches.
ATTACKS = {
    "pgd-linf": lambda: PGD(eps=0.06, steps=4, random_start=True, restarts=2, early_stop=True),
    "pgd-l2": lambda: PGD(eps=0.8, steps=4, norm="l2", random_start=True, restarts=2, loss="margin"),
    "pgd-l1": lambda: PGD(eps=3.0, steps=4, norm="l1", random_start=True, early_stop=True),
    "pgd-random-target": lambda: PGD(eps=0.1, steps=3, random_start=True, target="random"),
    "apgd-l2-dlr": lambda: APGD(eps=0.8, steps=6, norm="l2", loss="dlr", early_stop=True),
    "apgd-t": lambda: APGDT(eps=0.06, steps=4, n_targets=3),
    "square": lambda: Square(eps=0.1, queries=15, early_stop=True),
    "square-l2": lambda: Square(eps=0.8, norm="l2", queries=15, early_stop=True),
    "apgd-l1": lambda: APGD(eps=2.0, norm="l1", steps=6, early_stop=True),
    # Large enough that its random restarts find closer points than its start at x (on curved boundaries).
    "fab-t": lambda: FAB(eps=0.3, steps=2, n_targets=2, restarts=3),
}
FIELDS = ("success", "adv_pred", "loss", "norms", "grad_evals", "clean_pred", "radius")


@pytest.fixture(scope="module")
def model():
    """Computes each example bit for bit alike in a batch of any size, one included."""
    return nearest_mean()


@pytest.fixture(scope="module")
def curved():
    """Curved class boundaries: every attack's random draws change its answer, FAB's restarts included
    (tested below); batches of one may round its logits differently, so it is cut into pairs at least."""
    return wavy_mean()


@pytest.fixture(scope="module")
def data(digits):
    return digits.x_test[:N], digits.y_test[:N]


def _equal(a, b) -> None:
    np.testing.assert_array_equal(a.x_adv.numpy(), b.x_adv.numpy())
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)  # None == None too
    assert (a.queries is None) == (b.queries is None)
    if a.queries is not None:
        np.testing.assert_array_equal(a.queries, b.queries)


@st.composite
def cuts(draw):
    """A real cut: fewer examples per batch than examples, and the data split into at least two parts."""
    n = draw(st.integers(4, N))
    batch_size = draw(st.integers(1, n - 1))
    edges = sorted(draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=3)))
    return n, batch_size, [0, *edges, n]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTACKS))
@settings(max_examples=2)
@given(cut=cuts(), seed=st.integers(0, 2**20))
def test_any_batch_size_and_any_split_give_bit_identical_results(model, data, name, cut, seed):
    n, batch_size, edges = cut
    x, y = data[0][:n], data[1][:n]
    whole = ATTACKS[name]()
    whole.batch_size = n
    reference = whole.run(model, x, y, seed=seed)
    attack = ATTACKS[name]()
    attack.batch_size = batch_size
    parts = [attack.run(model, x[a:b], y[a:b], seed=seed, index=np.arange(a, b)) for a, b in zip(edges, edges[1:])]
    _equal(AttackResult.concat(parts), reference)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_example_draws_alike_in_pairs_and_in_one_batch(curved, data, name):
    """Batches of two put the examples at positions 0 and 1 only: a draw keyed by batch position cannot pass.

    (Pairs, not batches of one: on a single row TensorFlow's CPU kernels may round a logit differently.)
    """
    x, y = data
    whole = ATTACKS[name]()
    whole.batch_size = N
    pairs = ATTACKS[name]()
    pairs.batch_size = 2
    _equal(pairs.run(curved, x, y, seed=11), whole.run(curved, x, y, seed=11))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_s_answer_depends_on_its_random_draws(curved, data, name):
    """Without this, keying the draws wrongly could not change any result of the test above."""
    x, y = data
    first, second = (ATTACKS[name]().run(curved, x, y, seed=seed) for seed in (5, 6))
    with pytest.raises(AssertionError):
        _equal(first, second)


def test_positions_not_indices_would_change_the_draws(model, data):
    """The check above can fail: the same part attacked as if it began the data set draws differently."""
    x, y = data
    keyed = PGD(eps=0.06, steps=2, random_start=True, seed=1).run(model, x[6:], y[6:], index=np.arange(6, N))
    unkeyed = PGD(eps=0.06, steps=2, random_start=True, seed=1).run(model, x[6:], y[6:])
    assert not np.array_equal(keyed.x_adv.numpy(), unkeyed.x_adv.numpy())


@pytest.mark.slow
def test_the_ensemble_on_any_split_gives_the_same_verdicts(model, data):
    x, y = data
    ensemble = AutoAttack(eps=0.06, steps=5, n_targets=2, seed=3)
    reference = ensemble.run(model, x, y)
    parts = [ensemble.run(model, x[a:b], y[a:b], index=np.arange(a, b)) for a, b in ((0, 5), (5, 6), (6, N))]
    np.testing.assert_array_equal(np.concatenate([p.broken_by for p in parts]), reference.broken_by)
    np.testing.assert_array_equal(np.concatenate([p.x_adv.numpy() for p in parts]), reference.x_adv.numpy())


@pytest.mark.slow
def test_any_shard_size_and_batch_size_give_the_same_benchmark(tmp_path, monkeypatch):
    """The runner keys draws by the example's index in the data set, not in its shard or batch."""
    monkeypatch.chdir(tmp_path)  # nothing of the runs lands in the checkout
    suite = AttackSuite(
        "linf",
        "linf",
        (0.03, 0.06),
        (
            AttackSpec("pgd-5", "pgd", "linf", steps=5, rel_step_size=0.3, random_start=True, restarts=2),
            AttackSpec("square", "square", "linf", steps=30),
        ),
    )

    def run(shard_size: int, batch_size: int, out: str):
        bench = BenchmarkSuite(
            "cut", "digits", ["tests.check_models:nearest_mean"], [suite], shard_size=shard_size, batch_size=batch_size
        )
        return run_benchmark(bench, tmp_path / out)

    one = run(360, 512, "one")
    cut = run(47, 13, "cut")
    assert one.summary["robust_accuracy"].equals(cut.summary["robust_accuracy"])
    a, b = example_columns(one.results), example_columns(cut.results)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), key
    broken = [a[key] for key in a if key.endswith("/linf/pgd-5/broken_eps")]
    assert len(broken) == 1 and np.sum(broken[0] > 0) > 10  # the attack broke points: there was something to compare

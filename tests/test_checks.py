"""Each trust check fires on a model built to trigger it and stays quiet on the digits CNN."""

from __future__ import annotations

import pytest

from robustkit.evaluation.checks import CHECKS, run_checks
from robustkit.evaluation.runner import predict_labels
from robustkit.evaluation.suites import AttackSpec, AttackSuite
from robustkit.evaluation.sweep import sweep
from tests import check_models

LINF = AttackSuite(
    "linf",
    "linf",
    (0.05, 0.1, 0.2),
    (
        AttackSpec("fgsm", "fgsm", "linf"),
        AttackSpec("pgd-20", "pgd", "linf", steps=20, rel_step_size=0.125, random_start=True),
    ),
)


def _checks(model, digits, tmp_path, suite=LINF, n=200):
    x, y = digits.x_test[:n], digits.y_test[:n]
    correct = predict_labels(model, x, 512) == y
    records = {}
    for spec in suite.attacks:
        cells, _, _ = sweep(model, x, y, correct, spec, suite, (0.0, 1.0), 0, 512, tmp_path / spec.name, "m")
        records[spec.name] = {"broken_eps": _broken(cells, suite, len(y))}
    results = run_checks(model, x, y, correct, suite, records, (0.0, 1.0), 10, seed=0, label="m")
    return {r.name: r for r in results}


def _broken(cells, suite, n):
    broken = [None] * n
    for eps in suite.eps:
        cell = cells[eps]
        for index, success in zip(cell.indices, cell.success):
            if success and broken[index] is None:
                broken[index] = eps
    return broken


def test_all_quiet_on_the_digits_cnn(digits, digits_cnn, tmp_path):
    results = _checks(digits_cnn, digits, tmp_path)
    assert set(results) == set(CHECKS)
    for result in results.values():
        assert result.status == "pass", result
        assert result.value and result.message


@pytest.mark.parametrize(
    "factory, fires",
    [
        (
            check_models.hot_softmax,
            {"probability-outputs": "fail", "zero-gradients": "fail", "huge-eps-reaches-chance": "fail"},
        ),
        (check_models.straight_through_rounding, {"finite-differences": "fail"}),
        (check_models.dropout_on, {"nondeterminism": "fail"}),
        (
            check_models.zero_gradient_quantizer,
            {"zero-gradients": "fail", "huge-eps-reaches-chance": "fail", "loss-improves": "fail"},
        ),
    ],
    ids=["hot-softmax", "rounding", "dropout-on", "zero-gradient-quantizer"],
)
def test_each_check_fires_on_its_model(digits, tmp_path, factory, fires):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = _checks(factory(), digits, tmp_path)
    for name, status in fires.items():
        assert results[name].status == status, results[name]


def test_weak_pgd_is_flagged(digits, digits_cnn, tmp_path):
    weak = AttackSuite(
        "linf",
        "linf",
        (0.1, 0.2),
        (
            AttackSpec("fgsm", "fgsm", "linf"),
            AttackSpec("pgd-2", "pgd", "linf", steps=2, rel_step_size=0.02, random_start=False),
        ),
    )
    results = _checks(digits_cnn, digits, tmp_path, suite=weak)
    assert results["pgd-weaker-than-fgsm"].status == "fail"
    assert results["attack-converged"].status == "fail"

"""Each gate measure reads its own column: thresholds checked against a results file written by hand.

In the hand-made run every measure of the same model differs from its neighbours, so a threshold
that reads the wrong column (smoothed instead of certified accuracy, attacked instead of proved,
clean instead of corrupted, a held-out corruption in the mean) lands on the wrong side of its
minimum. The expected values are computed by hand in the comments, never by robustkit.
"""

from __future__ import annotations

import pytest

from robustkit.outputs.gate import evaluate_gate, parse_threshold


def _row(suite: str, attack: str, norm: str, eps: float, value: float, bound: str, **extra) -> dict:
    return {
        "model": "m", "attack_suite": suite, "attack": attack, "norm": norm, "eps": eps, "n": 100,
        "clean_accuracy": 0.95, "robust_accuracy": value, "robust_accuracy_low": value - 0.05,
        "robust_accuracy_high": value + 0.05, "success_rate": 0.0, "mean_norm": None, "median_norm": None,
        "grad_evals": 0, "seconds": 1.0, "bound": bound, "corruption": "", "severity": 0, **extra,
    }  # fmt: skip


def _corrupted(corruption: str, severity: int, value: float) -> dict:
    return _row("corr", corruption, "corruption", float(severity), value, "measured",
                corruption=corruption, severity=severity)  # fmt: skip


def _certified(sigma: float, smoothed: float, certified: float) -> dict:
    return {
        "model": "m", "certification_suite": "smooth", "norm": "l2", "sigma": sigma, "radius": 0.5, "n": 100,
        "smoothed_accuracy": smoothed, "abstain_rate": 0.02, "certified_accuracy": certified,
        "certified_accuracy_low": certified - 0.05, "certified_accuracy_high": certified + 0.05, "seconds": 1.0,
    }  # fmt: skip


RESULTS = {
    "models": {"m": {"spec": "m", "clean_accuracy": 0.95}},
    "data": {"bounds": [0.0, 1.0], "n": 100},
    "suite": {
        "name": "hand",
        "attack_suites": [{"name": "linf", "norm": "linf", "eps": [0.1], "bounds": None}],
        "certification_suites": [
            {"name": "smooth", "kind": "smoothing", "norm": "l2", "radius": [0.5], "sigma": [0.25, 0.5], "bounds": None}
        ],
        "verification_suites": [
            {"name": "verify", "kind": "verification", "norm": "linf", "eps": [0.1], "bounds": None}
        ],
        "corruption_suites": [
            {
                "name": "corr",
                "kind": "corruption",
                "corruptions": ["gaussian_noise", "fog"],
                "held_out": ["fog"],
                "severities": [1, 2],
                "bounds": None,
            }
        ],
    },  # fmt: skip
    "summary": [
        _row("linf", "pgd-20", "linf", 0.1, 0.65, "upper"),
        _row("linf", "worst-case", "linf", 0.1, 0.60, "upper"),
        _row("verify", "proved-bounds", "linf", 0.1, 0.30, "lower"),
        _row("verify", "proved-exact", "linf", 0.1, 0.40, "lower"),
        _row("verify", "refuted-exact", "linf", 0.1, 0.70, "upper"),
        _corrupted("gaussian_noise", 1, 0.90),
        _corrupted("gaussian_noise", 2, 0.80),
        _corrupted("fog", 1, 0.50),
        _corrupted("fog", 2, 0.20),
    ],
    "certified": [_certified(0.25, smoothed=0.95, certified=0.20), _certified(0.5, smoothed=0.85, certified=0.35)],
    "checks": [],
}

# (measure, threshold, passes, the value the message must show): every value worked out by hand
CASES = [
    ("robust", "linf:0.1=0.60", True, "60.00%"),  # the worst case, not PGD's 0.65
    ("robust", "linf:0.1=0.62", False, "60.00%"),
    ("certified", "smooth:0.5=0.35", True, "35.00% (sigma 0.5)"),  # the best sigma's certified accuracy
    ("certified", "smooth:0.5=0.36", False, "35.00%"),  # smoothed accuracy (0.95 and 0.85) would pass
    ("verified", "verify:0.1=0.40", True, "40.00% (proved-exact)"),  # the best proof, not the attack's 0.70
    ("verified", "verify:0.1=0.41", False, "40.00%"),
    ("corruption", "gaussian_noise:2=0.80", True, "80.00%"),
    ("corruption", "gaussian_noise:2=0.81", False, "80.00%"),  # clean accuracy (0.95) would pass
    ("corruption", "gaussian_noise=0.85", True, "85.00%"),  # (90 + 80) / 200 over both severities
    ("corruption", "mean=0.85", True, "85.00%"),  # fog is held out: the mean is gaussian noise's alone
    ("corruption", "mean=0.86", False, "85.00%"),
    ("corruption", "mean:2=0.81", False, "80.00%"),  # with fog it would be (80 + 20) / 200 = 50%
    ("corruption", "fog:1=0.50", True, "50.00%"),  # a held-out corruption can still be gated on its own
]


@pytest.mark.parametrize("measure, text, passes, shown", CASES)
def test_each_threshold_reads_its_own_measure(measure, text, passes, shown):
    (condition,) = evaluate_gate(RESULTS, thresholds=[parse_threshold(text, measure)])  # type: ignore[arg-type]
    assert condition.passed is passes, condition.message
    assert f"accuracy {shown}" in condition.message, condition.message


def test_a_held_out_corruption_never_lowers_the_mean():
    """mean:1 = gaussian noise at severity 1 alone (90%); with fog it would be 70%."""
    (condition,) = evaluate_gate(RESULTS, thresholds=[parse_threshold("mean:1=0.9", "corruption")])  # type: ignore[arg-type]
    assert condition.passed and "90.00%" in condition.message

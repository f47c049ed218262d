"""The Wilson interval against known values and an independent implementation."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from robustkit.stats import two_proportion_z, wilson_interval


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        (5, 10, 0.2366, 0.7634),  # the textbook example
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),  # Wilson (1927) / Newcombe (1998), method 3
        (0, 360, 0.0, 0.0106),
    ],
)
def test_known_values(k, n, low, high):
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(low, abs=1e-4)
    assert got[1] == pytest.approx(high, abs=1e-4)


@given(st.integers(1, 2000), st.data(), st.sampled_from([0.9, 0.95, 0.99]))
def test_matches_scipy(n, data, confidence):
    k = data.draw(st.integers(0, n))
    expected = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson_interval(k, n, confidence)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_empty_sample():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_two_proportion_z():
    assert two_proportion_z(50, 100, 50, 100) == 0.0
    assert two_proportion_z(80, 100, 60, 100) == pytest.approx(3.086, abs=1e-3)

"""Small statistics used in reports and gates.

Example:
    >>> low, high = wilson_interval(5, 10)
    >>> round(low, 4), round(high, 4)
    (0.2366, 0.7634)
"""

from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson, 1927).

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0 and n successes,
    which is where robust accuracies often sit. Returns ``(nan, nan)`` when ``n == 0``.
    """
    if n <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    z = _normal_quantile(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 or n successes one end is exactly 0 or 1; subtraction would leave rounding dust.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def _normal_quantile(q: float) -> float:
    """Inverse of the standard normal CDF."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)


def two_proportion_z(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """z statistic of the pooled two-proportion test of ``p_a - p_b``."""
    if n_a == 0 or n_b == 0:
        return 0.0
    pooled = (successes_a + successes_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:
        return 0.0
    return (successes_a / n_a - successes_b / n_b) / spread

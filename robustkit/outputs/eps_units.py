"""What an attack suite's eps counts in, said once for the report, the tables, summary.csv and the curves.

Eps is in input units, or written as a fraction of the input range (``8/255``) and scaled to them;
under a per-feature eps scale (:mod:`robustkit.constraints`) it counts in each feature's own scale
(``x std per feature``: eps 0.5 moves each feature by half its standard deviation).

Example:
    >>> eps_units({"eps": [0.5], "constraints": {"eps_unit": "x std per feature"}})
    'eps in x std per feature: feature i moves by at most eps times its own scale'
"""

from __future__ import annotations

from typing import Any

from robustkit.evaluation.results import AttackSuiteConfig


def eps_unit(attack_suite: Any) -> str:
    """What an attack suite's eps counts in: ``"input units"``, or under an eps scale ``"x std per feature"``.

    Example:
        >>> eps_unit({"eps": [0.1]}), eps_unit({"eps": [0.1], "constraints": {"eps_unit": "x std per feature"}})
        ('input units', 'x std per feature')
    """
    return str((attack_suite.get("constraints") or {}).get("eps_unit", "input units"))


def eps_units(attack_suite: AttackSuiteConfig) -> str:
    """Which units an attack suite's eps are in, as reports state it.

    Example:
        >>> eps_units({"eps": [2.0, 8.0], "eps_written": ["2/255", "8/255"]})
        'eps in input units; written as fractions of the input range: 2/255 = 2, 8/255 = 8'
    """
    unit = eps_unit(attack_suite)
    if unit != "input units":
        return f"eps in {unit}: feature i moves by at most eps times its own scale"
    written = attack_suite.get("eps_written")
    if not written:
        return "eps in input units"
    if all(w == f"{e:.6g}" for w, e in zip(written, attack_suite["eps"])):
        return "eps in input units, written as fractions of the input range, whose width is 1"
    pairs = ", ".join(f"{w} = {e:.6g}" for w, e in zip(written, attack_suite["eps"]))
    return f"eps in input units; written as fractions of the input range: {pairs}"

"""What reports show of certification suites: certified accuracy per model and sigma against radius.

The tables here are shared by the Markdown and HTML reports; the curves are drawn by
:mod:`robustkit.outputs.plots` beside the attack curves of the same models.

Example:
    >>> text = certified_text({"norm": "linf", "alpha": 0.001, "n0": 100, "n": 1000, "sigma": [0.25]}, 64)
    >>> text.split(". ")[-1].split(": ")[-1]
    '8 times smaller than the L2 radius, so loose.'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from robustkit.evaluation.certified import headline_radius
from robustkit.evaluation.results import CertificationSuiteConfig, Results

CERTIFIED_SUMMARY = (
    "certified accuracy (%) of the best smoothed classifier at each certification suite's headline radius, "
)


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def dimension_of(results: Results) -> int | None:
    """The input features of the run's certificates (the L-inf radius divides by its square root)."""
    for per_model in results["examples"].values():
        for records in per_model.get("certification_suites", {}).values():
            for record in records.values():
                return int(record["dimension"])
    return None


def certified_text(suite: CertificationSuiteConfig, dimension: int | None) -> str:
    """What a certification suite's table means, in words."""
    text = (
        "Certified accuracy in % of the smoothed classifier g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c) "
        "(randomized smoothing, Cohen et al. 2019): an example counts at radius r when g classifies it correctly "
        f"and certifies an {suite['norm'].upper().replace('LINF', 'L-inf')} radius of at least r. Each certificate "
        f"holds with probability at least 1 - alpha (alpha = {suite['alpha']:g}; n0 = {suite['n0']}, "
        f"n = {suite['n']} noisy samples per example). g is another classifier than the model the attacks attack: "
        "these are lower bounds on g's robust accuracy, shown beside the attacks' upper bounds on the model's, "
        "never folded into them. 'smoothed' is g's accuracy (abstentions count as errors), 'abstain' how often "
        "g abstains."
    )
    if suite["norm"] == "linf" and dimension:
        text += (
            " L-inf radii follow from the L2 certificate by ball inclusion (r_inf = r_2 / sqrt(d), "
            f"d = {dimension} input features): {math.sqrt(dimension):.3g} times smaller than the L2 radius, so loose."
        )
    return text


def certified_rows(results: Results, suite: CertificationSuiteConfig) -> tuple[list[dict], list[str]]:
    """Rows per model and sigma: smoothed accuracy, abstain rate and certified accuracy (%) at each radius."""
    rows_in = [r for r in results.get("certified", []) if r["certification_suite"] == suite["name"]]
    columns = ["model", "sigma", "smoothed", "abstain"] + [f"r={r:g}" for r in suite["radius"]]
    rows: dict[tuple, dict] = {}
    for r in rows_in:
        row = rows.setdefault(
            (r["model"], r["sigma"]),
            {
                "model": r["model"],
                "sigma": f"{r['sigma']:g}",
                "smoothed": _pct(r["smoothed_accuracy"]),
                "abstain": _pct(r["abstain_rate"]),
            },
        )
        row[f"r={r['radius']:g}"] = _pct(r["certified_accuracy"])
    return list(rows.values()), columns


def headline_certified(results: Results, model: str, suite: CertificationSuiteConfig) -> tuple[str, str]:
    """The summary's column for a certification suite, and one model's value: the best sigma at the headline
    radius, e.g. ``('smoothing-l2 certified @ r=0.5', '61.2 (sigma 0.25)')``."""
    radius = headline_radius(suite)
    column = f"{suite['name']} certified @ r={radius:g}"
    matches = [
        r
        for r in results.get("certified", [])
        if r["model"] == model and r["certification_suite"] == suite["name"] and np.isclose(r["radius"], radius)
    ]
    if not matches:
        return column, "–"
    best = max(matches, key=lambda r: r["certified_accuracy"])
    return column, f"{_pct(best['certified_accuracy'])} (sigma {best['sigma']:g})"


def certification_sections(results: Results) -> list[tuple[str, str, list[dict], list[str]]]:
    """Per certification suite: its heading, its text, and its table's rows and columns."""
    dimension = dimension_of(results)
    sections = []
    for suite in results["suite"].get("certification_suites", []):
        rows, columns = certified_rows(results, suite)
        heading = f"Certified robustness: {suite['name']} (randomized smoothing, {suite['norm']})"
        sections.append((heading, certified_text(suite, dimension), rows, columns))
    return sections


def any_certified(results: Any) -> bool:
    return bool(results["suite"].get("certification_suites"))

"""The Markdown report, and the robust-accuracy tables the other formats share.

Example:
    >>> render_markdown_table([{"a": 1, "b": 0.5}], ["a", "b"])
    '| a | b |\\n|---|---|\\n| 1 | 0.5 |'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustkit.attacks import ATTACKS
from robustkit.evaluation.contributions import contribution_rows, shown_rows
from robustkit.evaluation.results import Results
from robustkit.outputs.certified_report import CERTIFIED_SUMMARY, any_certified, certification_sections
from robustkit.outputs.corruption_report import CORRUPTION_SUMMARY, any_corrupted, corruption_sections
from robustkit.outputs.eps_units import eps_units
from robustkit.outputs.glance import checks_matrix, headline_eps, summary_rows
from robustkit.outputs.notes import run_notes
from robustkit.outputs.plots import panel_title
from robustkit.outputs.table_examples import COLUMNS, is_table, table_example_rows
from robustkit.outputs.verified_report import VERIFIED_SUMMARY, any_verified, verification_sections
from robustkit.ranges import describe_bounds


def render_markdown_table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{100 * value:.1f}"


def pivot_rows(summary: pd.DataFrame, attack_suite: str) -> tuple[list[dict], list[str]]:
    """Rows of robust accuracy (%) per model and attack, one column per eps."""
    part = summary[summary["attack_suite"] == attack_suite]
    eps_values = sorted(part["eps"].unique())
    columns = ["model", "attack", "clean"] + [f"{e:g}" for e in eps_values]
    rows = []
    for (model, attack), group in part.groupby(["model", "attack"], sort=False):
        row = {
            "model": model,
            "attack": f"**{attack}**" if attack == "worst-case" else attack,
            "clean": pct(group["clean_accuracy"].iloc[0]),
        }
        for _, r in group.iterrows():
            row[f"{r['eps']:g}"] = pct(r["robust_accuracy"])
        rows.append(row)
    return rows, columns


def describe_attack(config: dict) -> str:
    """``"name (type, N steps)"``, as reports list an attack suite's attacks.

    Example:
        >>> describe_attack({"name": "apgd-ce", "type": "apgd", "steps": 100})
        'apgd-ce (apgd, 100 steps)'
    """
    unit = ATTACKS[config["type"]].budget if config["type"] in ATTACKS else "steps"
    if unit is None:
        return f"{config['name']} ({config['type']})"
    return f"{config['name']} ({config['type']}, {config['steps']} {unit})"


def _header(results: Results) -> list[str]:
    env, suite, data = results["environment"], results["suite"], results["data"]
    return [
        f"# Robustness report: {suite['name']}",
        "",
        f"Data: **{data['name']}**, {data['n']} test examples, bounds {describe_bounds(data['bounds'])} "
        f"(fingerprint `{data['fingerprint']}`). Seed {suite['seed']}. robustkit {env['robustkit']}, "
        f"TensorFlow {env['tensorflow']}, Keras {env['keras']}, Python {env['python']}. Created {results['created']}.",
        "",
        "Robust accuracy in % (an example counts as robust when it is classified correctly and no attack "
        "at that eps changed its prediction). **worst-case** takes each example's strongest attack.",
        *(["", *[f"- {note}" for note in run_notes(results)]] if run_notes(results) else []),
    ]


def _attack_suite_tables(results: Results, summary: pd.DataFrame) -> list[str]:
    parts = []
    for attack_suite in results["suite"]["attack_suites"]:
        rows, columns = pivot_rows(summary, attack_suite["name"])
        attacks = ", ".join(describe_attack(a) for a in attack_suite["attacks"])
        heading = f"## {panel_title(attack_suite)}: {attacks}"
        parts += ["", heading, "", eps_units(attack_suite) + ".", "", render_markdown_table(rows, columns)]
    return parts


def _certified(results: Results) -> list[str]:
    parts = []
    for heading, text, rows, columns in certification_sections(results):
        parts += ["", f"## {heading}", "", text, "", render_markdown_table(rows, columns)]
    return parts


def _verified(results: Results, summary: pd.DataFrame) -> list[str]:
    parts = []
    for heading, text, rows, columns in verification_sections(results, summary):
        parts += ["", f"## {heading}", "", text, "", render_markdown_table(rows, columns)]
    return parts


def _corrupted(results: Results, summary: pd.DataFrame) -> list[str]:
    parts = []
    for heading, text, rows, columns in corruption_sections(results, summary):
        parts += ["", f"## {heading}", "", text, "", render_markdown_table(rows, columns)]
    if parts:
        parts += ["", "Heat map: `corruption_heatmap.png`; every corruption at every severity: `corruption_tiles.png`."]
    return parts


def _contributions(results: Results) -> list[str]:
    parts = []
    every = contribution_rows(results)
    for suite in results["suite"]["attack_suites"]:
        rows = shown_rows(every, suite["name"])
        if not rows:
            continue
        columns = ["model", *[a["name"] for a in suite["attacks"]], "still robust"]
        parts += [
            "",
            f"## Which attack broke what: {suite['name']} at eps {headline_eps(suite):g}",
            "",
            "Examples each attack broke that every attack before it left robust (the counts add up to "
            "the examples the suite broke; clean errors are not counted).",
            "",
            render_markdown_table(rows, columns),
        ]
    return parts


def _worst_case_table(summary: pd.DataFrame) -> list[str]:
    rows = [
        {
            "model": r.model,
            "attack suite": r.attack_suite,
            "eps": f"{r.eps:g}",
            "robust accuracy": pct(r.robust_accuracy),
            "95% interval": f"[{pct(r.robust_accuracy_low)}, {pct(r.robust_accuracy_high)}]",
            "median norm": "–" if np.isnan(r.median_norm) else f"{r.median_norm:.4f}",
            "grad evals": r.grad_evals,
            "seconds": f"{r.seconds:.2f}",
        }
        for r in summary[summary["attack"] == "worst-case"].itertuples()  # the attacks': proofs have their own
    ]
    if not rows:  # a run of proofs or corruptions only
        return []
    return ["", "## Worst case with 95% Wilson intervals", "", render_markdown_table(rows, list(rows[0].keys()))]


def _at_a_glance(results: Results, summary: pd.DataFrame) -> list[str]:
    rows, columns = summary_rows(results, summary)
    parts = [
        "",
        "## Summary",
        "",
        "Clean and worst-case robust accuracy (%) at each threat model's headline eps, "
        + (CERTIFIED_SUMMARY if any_certified(results) else "")
        + (VERIFIED_SUMMARY if any_verified(results) else "")
        + (CORRUPTION_SUMMARY if any_corrupted(results) else "")
        + "and the trust checks.",
        "",
        render_markdown_table(rows, columns),
    ]
    rows, columns, explanations = checks_matrix(results)
    if rows:
        parts += ["", "## Trust checks", "", render_markdown_table(rows, columns), ""]
        parts += [f"- **{name}**: {text}" for name, text in explanations.items()]
    return parts


def _models(results: Results) -> list[str]:
    columns = ["model", "source", "weights", "clean accuracy"]
    models = [
        dict(zip(columns, (k, v["spec"], f"`{v['fingerprint']}`", pct(v["clean_accuracy"]))))
        for k, v in results["models"].items()
    ]
    return ["", "## Models", "", render_markdown_table(models, columns)]


def _table_examples(results: Results) -> list[str]:
    if not is_table(results):
        return []
    text = "Broken examples and the features the attack changed most (largest relative change first)."
    return ["", "## Examples", "", text, "", render_markdown_table(table_example_rows(results), COLUMNS)]


def markdown_report(results: Results, summary: pd.DataFrame) -> str:
    """The whole ``report.md``."""
    run = results.get("run", {})
    footer = [
        "",
        f"Run time {run.get('seconds', float('nan')):.1f} s; cells computed {run.get('cells_computed', '?')}, "
        f"resumed {run.get('cells_reused', '?')}. Full table: `summary.csv`; everything: `results.json`.",
        "",
    ]
    parts = _header(results) + _at_a_glance(results, summary) + _attack_suite_tables(results, summary)
    parts += _certified(results) + _verified(results, summary) + _corrupted(results, summary)
    parts += _contributions(results) + _table_examples(results)
    return "\n".join(parts + _worst_case_table(summary) + _models(results) + footer)

"""The HTML report: one self-contained page with the tables, the trust checks and the pictures."""

from __future__ import annotations

import base64
import html

import pandas as pd

from robustkit.evaluation.contributions import contribution_rows, shown_rows
from robustkit.evaluation.results import Results, headline_eps
from robustkit.outputs.certified_report import CERTIFIED_SUMMARY, any_certified, certification_sections
from robustkit.outputs.corruption_report import CORRUPTION_SUMMARY, any_corrupted, corruption_sections
from robustkit.outputs.eps_units import eps_units
from robustkit.outputs.glance import checks_matrix, summary_rows
from robustkit.outputs.markdown import pivot_rows
from robustkit.outputs.notes import run_notes
from robustkit.outputs.plots import PLOT_HINT, panel_title
from robustkit.outputs.table_examples import COLUMNS, is_table, table_example_rows
from robustkit.outputs.verified_report import VERIFIED_SUMMARY, any_verified, verification_sections
from robustkit.ranges import describe_bounds

HTML_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:0.9rem}
th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}
.pass{color:#176f2c}.warn{color:#9a6700}.fail{color:#b42318;font-weight:bold}
img{max-width:100%}
table.checks td{text-align:center}dt{font-weight:bold;margin-top:0.5rem}dd{margin-left:1rem;font-size:0.9rem}
details{margin:1rem 0}summary{cursor:pointer;font-weight:bold}
"""


def _image(title: str, alt: str, png: bytes) -> str:
    source = "data:image/png;base64," + base64.b64encode(png).decode()
    return f'<h2>{title}</h2><img alt="{alt}" src="{source}">'


def _table(rows: list[dict], columns: list[str], css: str) -> str:
    header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(str(row.get(c, "")), c == "trust checks") for c in columns) + "</tr>" for row in rows
    )
    return f"<table class='{css}'><tr>{header}</tr>{body}</table>"


def _cell(text: str, is_verdict: bool) -> str:
    """A table cell; a check status (``PASS 0.3%``, ``fail: loss-improves``) gets its colour."""
    status = text.split(" ", 1)[0].rstrip(":").lower()
    css = f" class='{status}'" if status in ("pass", "warn", "fail") else " class='na'" if status == "n/a" else ""
    return f"<td{css}>{html.escape(text)}</td>"


def _checks(results: Results) -> str:
    rows, columns, explanations = checks_matrix(results)
    if not rows:
        return ""
    meanings = "".join(
        f"<dt>{html.escape(name)}</dt><dd>{html.escape(text)}</dd>" for name, text in explanations.items()
    )
    return f"<h2>Trust checks</h2>{_table(rows, columns, 'checks')}<dl>{meanings}</dl>"


def html_report(
    results: Results,
    summary: pd.DataFrame,
    curves: bytes | None,
    grid: bytes | None,
    pictures: list[tuple[str, str, bytes]] | None = None,
) -> str:
    """The whole ``report.html``; ``pictures``: more (title, alt text, PNG) after the tables."""
    suite, data, env = results["suite"], results["data"], results["environment"]
    rows, columns = summary_rows(results, summary)
    body = [
        f"<h1>Robustness report: {html.escape(suite['name'])}</h1>",
        f"<p>Data <b>{html.escape(data['name'])}</b>, {data['n']} test examples, "
        f"bounds {describe_bounds(data['bounds'])}. "
        f"Seed {suite['seed']}. robustkit {env['robustkit']}, TensorFlow {env['tensorflow']}, Keras {env['keras']}, "
        f"Python {env['python']}. Created {html.escape(results['created'])}.</p>",
        "".join(f"<p>{html.escape(note)}</p>" for note in run_notes(results)),
        "<h2>Summary</h2><p>Clean and worst-case robust accuracy (%) at each threat model's headline eps, "
        + (CERTIFIED_SUMMARY if any_certified(results) else "")
        + (VERIFIED_SUMMARY if any_verified(results) else "")
        + (CORRUPTION_SUMMARY if any_corrupted(results) else "")
        + "and the trust checks.</p>",
        _table(rows, columns, "summary-first"),
        _checks(results),
        _image("Robustness curves", "robustness curves", curves) if curves else f"<p><i>{PLOT_HINT}</i></p>",
    ]
    for attack_suite in suite["attack_suites"]:
        rows, columns = pivot_rows(summary, attack_suite["name"])
        frame = pd.DataFrame(rows, columns=columns)
        frame["attack"] = frame["attack"].str.replace("**", "", regex=False)
        body.append(f"<h2>{html.escape(panel_title(attack_suite))}: robust accuracy %</h2>")
        body.append(f"<p>{html.escape(eps_units(attack_suite))}.</p>")
        body.append(frame.to_html(index=False, escape=True, classes="robust-accuracy"))
        broke = shown_rows(contribution_rows(results), attack_suite["name"])
        if broke:
            order = ["model", *[a["name"] for a in attack_suite["attacks"]], "still robust"]
            body.append(
                f"<p>Which attack broke what at eps {headline_eps(attack_suite):g}: the examples each attack "
                "broke that every attack before it left robust.</p>"
            )
            body.append(pd.DataFrame(broke, columns=order).to_html(index=False, escape=True, classes="contributions"))
    for heading, text, rows, columns in certification_sections(results):
        body.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(text)}</p>")
        body.append(pd.DataFrame(rows, columns=columns).to_html(index=False, escape=True, classes="certified"))
    for heading, text, rows, columns in verification_sections(results, summary):
        body.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(text)}</p>")
        body.append(pd.DataFrame(rows, columns=columns).to_html(index=False, escape=True, classes="verified"))
    for heading, text, rows, columns in corruption_sections(results, summary):
        body.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(text)}</p>")
        body.append(pd.DataFrame(rows, columns=columns).to_html(index=False, escape=True, classes="corrupted"))
    for title, alt, png in pictures or []:
        body.append(_image(title, alt, png))
    if grid:
        body.append(_image("Examples", "original, adversarial and perturbation images", grid))
    if is_table(results):
        body.append("<h2>Examples</h2><p>Broken examples and the features the attack changed most.</p>")
        body.append(_table(table_example_rows(results), COLUMNS, "examples"))
    body.append("<details><summary>All results</summary>")
    body.append(summary.to_html(index=False, float_format=lambda v: f"{v:.4g}", classes="summary"))
    body.append("</details>")
    head = f"<meta charset='utf-8'><title>robustkit: {html.escape(suite['name'])}</title><style>{HTML_STYLE}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{''.join(body)}</body></html>"

"""Reports of a benchmark run: ``results.json`` with ``examples.npz`` (its per-example columns),
``summary.csv`` (and ``certified.csv`` with certification suites), ``report.md``, ``report.html``
and the robustness curves and example images as PNG.

Everything is rendered from the results (:mod:`robustkit.evaluation.results`), so ``robustkit
report results.json`` re-renders a report without running anything.

Example:
    >>> sorted(REPORT_FILES)[:3]
    ['examples.npz', 'examples.png', 'report.html']
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustkit.evaluation.certified import certified_table
from robustkit.evaluation.results import Results
from robustkit.evaluation.results_columns import EXAMPLES_FILE, results_json, write_examples
from robustkit.evaluation.summary import summarize
from robustkit.files import atomic_path, atomic_write
from robustkit.outputs.corruption_report import heatmap_png, tiles_png
from robustkit.outputs.eps_units import eps_unit
from robustkit.outputs.html_page import html_report
from robustkit.outputs.markdown import markdown_report
from robustkit.outputs.plots import curves_png, examples_png

CERTIFIED_FILE = "certified.csv"  # written when the run has certification suites
REPORT_FILES = (
    "results.json",
    "examples.npz",
    "summary.csv",
    "report.md",
    "robustness_curves.png",
    "examples.png",
    "report.html",
)


def with_eps_units(summary: pd.DataFrame, results: Results) -> pd.DataFrame:
    """The summary with an ``eps_unit`` column after ``eps``: what each row's eps counts in (``input units``,
    ``x std per feature`` under an eps scale, ``severity`` for a corruption).

    Example:
        >>> suite = {"attack_suites": [{"name": "linf", "constraints": {"eps_unit": "x std per feature"}}]}
        >>> rows = {"attack_suite": ["linf", "corruptions"], "eps": [0.1, 3.0], "norm": ["linf", "corruption"]}
        >>> table = pd.DataFrame(rows)
        >>> with_eps_units(table, {"suite": suite})["eps_unit"].tolist()  # type: ignore[arg-type]
        ['x std per feature', 'severity']
    """
    units = {s["name"]: eps_unit(s) for s in results["suite"].get("attack_suites", [])}
    column = [
        "severity" if norm == "corruption" else units.get(name, "input units")
        for name, norm in zip(summary["attack_suite"], summary["norm"])
    ]
    return summary.assign(eps_unit=column)[[*summary.columns[: summary.columns.get_loc("eps") + 1], "eps_unit",
                                           *summary.columns[summary.columns.get_loc("eps") + 1 :]]]  # fmt: skip


def write_report(results: Results, out_dir: str | Path, summary: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write every report file for ``results`` into ``out_dir``; returns what was written, by file name.

    Args:
        results: the run's results.
        out_dir: the folder (created when missing).
        summary: the summary table, when the caller has it already (default: computed from ``results``).
    """
    out_dir = Path(out_dir)
    if summary is None:
        summary = summarize(results)
    written: dict[str, Path] = {}

    def put(name: str, content: bytes | str) -> None:
        path = out_dir / name
        atomic_write(path, content)
        written[name] = path

    with atomic_path(out_dir / EXAMPLES_FILE) as tmp:  # first: results.json names it
        write_examples(results, tmp)
    written[EXAMPLES_FILE] = out_dir / EXAMPLES_FILE
    put("results.json", results_json(results))
    put("summary.csv", with_eps_units(summary, results).to_csv(index=False, float_format="%.6g"))
    if results.get("certified"):  # certification suites' rows: their own table, never in summary.csv's
        put(CERTIFIED_FILE, certified_table(results).to_csv(index=False, float_format="%.6g"))
    else:  # one from an earlier run would describe other results
        (out_dir / CERTIFIED_FILE).unlink(missing_ok=True)
    put("report.md", markdown_report(results, summary))
    curves = curves_png(results, summary)
    grid = examples_png(results)
    for name, picture in (("robustness_curves.png", curves), ("examples.png", grid)):
        if picture:
            put(name, picture)
        else:  # a picture from an earlier run would describe other results
            (out_dir / name).unlink(missing_ok=True)
    pictures = []
    for name, title, alt, picture in (
        ("corruption_heatmap.png", "Accuracy per corruption and severity", "heat map", heatmap_png(results, summary)),
        ("corruption_tiles.png", "Every corruption at every severity", "corrupted images", tiles_png(results)),
    ):
        if picture:
            put(name, picture)
            pictures.append((title, alt, picture))
        else:  # a picture from an earlier run would describe other results
            (out_dir / name).unlink(missing_ok=True)
    put("report.html", html_report(results, summary, curves, grid, pictures))
    return written

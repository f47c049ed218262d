"""What reports show of corruption suites: accuracy per corruption and severity, the mean corruption
accuracy, the worst corruption, mCE against the baseline, a heat map and tiles of every corruption.

The figures come from the summary's corruption rows (:mod:`robustkit.evaluation.corrupted`); the
tiles re-corrupt the one test image the run kept (``results["corruption_sample"]``), with the
run's seed, so they show exactly what the models saw.

Example:
    >>> _pct(0.8234), _pct(float("nan"))
    ('82.3', '–')
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from robustkit.corruptions.registry import UNAVAILABLE
from robustkit.evaluation.corrupted import accuracy_grid, overview
from robustkit.evaluation.results import CorruptionSuiteConfig, Results

CORRUPTION_SUMMARY = "the mean accuracy (%) under each corruption suite's corruptions, "


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def _specs(results: Results) -> dict[str, str]:
    return {label: info["spec"] for label, info in results["models"].items()}


def overview_rows(
    results: Results, summary: pd.DataFrame, suite: CorruptionSuiteConfig
) -> tuple[list[dict], list[str]]:
    """Per model: clean, mean corruption accuracy, the mean at each severity, the worst corruption, the
    held-out mean, mCE and relative mCE (%)."""
    severities = [f"sev {s}" for s in suite["severities"]]
    columns = ["model", "clean", "mean", *severities, "worst corruption", "held-out mean", "mCE", "relative mCE"]
    rows = []
    for model in results["models"]:
        figures = overview(summary, model, suite, _specs(results))
        worst = figures["worst"]
        row = {"model": model, "clean": _pct(figures["clean"]), "mean": _pct(figures["mean"])}
        row.update({f"sev {s}": _pct(v) for s, v in figures["by_severity"].items()})
        row["worst corruption"] = f"{worst} ({_pct(figures['by_corruption'][worst])})" if worst else "–"
        row["held-out mean"] = _pct(figures["held_out_mean"])
        row["mCE"], row["relative mCE"] = _pct(figures["mce"]), _pct(figures["relative_mce"])
        rows.append(row)
    return rows, columns


def accuracy_rows(
    results: Results, summary: pd.DataFrame, suite: CorruptionSuiteConfig
) -> tuple[list[dict], list[str]]:
    """A row per model and corruption: accuracy (%) at each severity, and over them; held-out ones marked."""
    columns = ["model", "corruption", *[str(s) for s in suite["severities"]], "mean"]
    rows = []
    for model in results["models"]:
        grid = accuracy_grid(summary, model, suite["name"])
        for corruption in suite["corruptions"]:
            values = [grid.get((corruption, s), math.nan) for s in suite["severities"]]
            name = f"{corruption} (held out)" if corruption in suite["held_out"] else corruption
            row = {"model": model, "corruption": name, **{str(s): _pct(v) for s, v in zip(suite["severities"], values)}}
            row["mean"] = _pct(float(np.mean(values)))
            rows.append(row)
    return rows, columns


def missing_baseline(suite: CorruptionSuiteConfig, results: Results) -> str | None:
    """Why the suite's mCE has no value (``-``), with what to do; None when it has one.

    Example:
        >>> run = {"models": {"mine": {"spec": "mine.keras"}}}
        >>> missing_baseline({"baseline": "digits-mlp"}, run).split(";")[0]  # type: ignore[arg-type, typeddict-item]
        "mCE shows '-': its baseline digits-mlp is not among this run's models (mine)"
    """
    specs = {label: info["spec"] for label, info in results["models"].items()}
    named = suite["baseline"]
    if not named:
        return "mCE shows '-': it needs a baseline model; name one of the run's models with --mce-baseline MODEL."
    if named in specs or named in specs.values():
        return None
    return (
        f"mCE shows '-': its baseline {named} is not among this run's models ({', '.join(specs)}); add it with "
        "--model, or make one of them the baseline with --mce-baseline MODEL."
    )


def corruption_text(suite: CorruptionSuiteConfig, results: Results) -> str:
    baseline = suite["baseline"] or "none"
    missing = missing_baseline(suite, results)
    return (
        "Accuracy on the test data under each common corruption at each severity (1 mild to 5 severe), with "
        f"the published constants ({suite['constants']}). 'mean' averages the benchmark's corruptions over every "
        "severity; the held-out ones (kept out of corruption training) are reported apart. mCE is each model's "
        f"errors summed over severities over the baseline's ({baseline}), averaged over corruptions (%, lower is "
        "better; the baseline scores 100); relative mCE subtracts each model's clean error first. "
        + (f"{missing} " if missing else "")
        + "Accuracy on corrupted inputs bounds nothing about attacks: it is measured, not a worst case. "
        + _not_provided()
    )


def _not_provided() -> str:
    """The published corruptions robustkit cannot measure, and why: their absence changes the means."""
    missing = "; ".join(f"{name} (it {reason})" for name, reason in UNAVAILABLE.items())
    return (
        f"Not measured: {missing}. The means leave it out, so they are not directly comparable with published "
        "means that include it."
    )


def corruption_sections(results: Results, summary: pd.DataFrame) -> list[tuple[str, str, list[dict], list[str]]]:
    """Per corruption suite: its overview, then its accuracy table (heading, text, rows, columns each)."""
    sections = []
    for suite in results["suite"].get("corruption_suites", []):
        rows, columns = overview_rows(results, summary, suite)
        sections.append((f"Corruption robustness: {suite['name']}", corruption_text(suite, results), rows, columns))
        rows, columns = accuracy_rows(results, summary, suite)
        sections.append((f"Accuracy per corruption and severity: {suite['name']}", "Accuracy (%).", rows, columns))
    return sections


def headline_corruption(
    results: Results, summary: pd.DataFrame, model: str, suite: CorruptionSuiteConfig
) -> tuple[str, str]:
    """The summary's column for a corruption suite and one model's mean corruption accuracy (%)."""
    column = f"{suite['name']} mean"
    if not model:
        return column, ""
    return column, _pct(overview(summary, model, suite, _specs(results))["mean"])


def any_corrupted(results: Any) -> bool:
    return bool(results["suite"].get("corruption_suites"))


def heatmap_png(results: Results, summary: pd.DataFrame) -> bytes | None:
    """Accuracy per corruption (rows) and severity (columns), a panel per model and corruption suite."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from robustkit.outputs.plots import figure_png

    panels = [(m, s) for s in results["suite"].get("corruption_suites", []) for m in results["models"]]
    if not panels:
        return None
    rows = len(panels[0][1]["corruptions"])
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 + 1.6 * len(panels), 0.3 * rows + 1.5), squeeze=False)
    for ax, (model, suite) in zip(axes[0], panels):
        grid = accuracy_grid(summary, model, suite["name"])
        values = np.array([[grid.get((c, s), np.nan) for s in suite["severities"]] for c in suite["corruptions"]])
        image = ax.imshow(100 * values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(suite["severities"])), [str(s) for s in suite["severities"]])
        ax.set_yticks(range(len(suite["corruptions"])), suite["corruptions"] if ax is axes[0][0] else [""] * rows)
        ax.set_title(model, fontsize=8)
        ax.set_xlabel("severity")
    fig.colorbar(image, ax=axes[0].tolist(), label="accuracy %")
    png = figure_png(fig)
    plt.close(fig)
    return png


def tiles_png(results: Results) -> bytes | None:
    """The kept test image under every corruption (rows) at every severity (columns), the clean one first."""
    sample = results.get("corruption_sample")
    suites = results["suite"].get("corruption_suites", [])
    if not sample or not suites:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from robustkit.corruptions import corrupt
    from robustkit.outputs.plots import figure_png

    suite = suites[0]
    x = np.asarray(sample["x"], np.float32)[None]
    low, high = sample["bounds"]
    names, severities = suite["corruptions"], suite["severities"]
    fig, axes = plt.subplots(len(names), len(severities) + 1, figsize=(1.1 * (len(severities) + 1), 1.1 * len(names)))
    axes = np.atleast_2d(axes)
    for i, name in enumerate(names):
        images = [x[0]] + [corrupt(x, name, s, seed=sample["seed"], indices=[sample["index"]], bounds=(low, high),
                                   constants=suite["constants"])[0] for s in severities]  # fmt: skip
        for j, image in enumerate(images):
            shown = (image - low) / (high - low)
            axes[i, j].imshow(shown[..., 0] if shown.shape[-1] == 1 else shown, cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(name, fontsize=6, rotation=0, ha="right", va="center")
    for j, title in enumerate(["clean", *[f"severity {s}" for s in severities]]):
        axes[0, j].set_title(title, fontsize=7)
    png = figure_png(fig)
    plt.close(fig)
    return png

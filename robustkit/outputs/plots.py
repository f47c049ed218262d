"""The report's pictures: robustness curves and example images (PNG, through matplotlib if installed)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from robustkit.evaluation.results import CERTIFIED_COLUMNS, Results
from robustkit.outputs.eps_units import eps_unit
from robustkit.outputs.verified_report import sandwich
from robustkit.sources.classes import class_label

PLOT_HINT = "Install matplotlib (pip install matplotlib) to get the robustness curves and example images."


def figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


ATTACK_STYLES = (("--", "s"), (":", "^"), ("-.", "v"), ((0, (5, 1, 1, 1)), "D"), ((0, (1, 3)), "x"))


def panel_title(attack_suite: Any) -> str:
    """An attack suite's panel title: its name, and its norm when the name does not say it.

    Example:
        >>> panel_title({"name": "linf", "norm": "linf"}), panel_title({"name": "aa", "norm": "l2"})
        ('linf', 'aa (l2)')
    """
    name, norm = attack_suite["name"], attack_suite["norm"]
    return name if norm in name else f"{name} ({norm})"


def curves_png(results: Results, summary: pd.DataFrame) -> bytes | None:
    """Robust accuracy against eps: one panel per attack suite; a colour per model, a line style and
    marker per attack (the worst case thick and solid), the legend beside the panels. Then one panel
    per certification suite: certified accuracy against radius beside the same models' attacked curves;
    and one per verification suite: proved and attacked accuracy against eps, the unknown band between."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    attack_suites = results["suite"]["attack_suites"]
    certification_suites = results["suite"].get("certification_suites", [])
    verification_suites = results["suite"].get("verification_suites", [])
    panels = len(attack_suites) + len(certification_suites) + len(verification_suites)
    if not panels:
        return None
    fig, axes = plt.subplots(1, panels, figsize=(4.8 * panels, 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    models = list(results["models"])
    for ax, attack_suite in zip(axes[0], attack_suites):
        _attack_panel(ax, summary, attack_suite, colors, models)
    for ax, certification_suite in zip(axes[0][len(attack_suites) :], certification_suites):
        _certified_panel(ax, results, summary, certification_suite, colors, models)
    for ax, verification_suite in zip(axes[0][len(attack_suites) + len(certification_suites) :], verification_suites):
        _verified_panel(ax, summary, verification_suite, colors, models)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:  # every line once, beside the panels rather than over them
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=7, frameon=False)
    fig.suptitle(f"Robustness curves: {results['suite']['name']}")
    fig.tight_layout()
    png = figure_png(fig)
    plt.close(fig)
    return png


def _attack_panel(ax: Any, summary: pd.DataFrame, attack_suite: Any, colors: list, models: list) -> None:
    """Robust accuracy against eps in one attack suite: a line per model and attack, the worst case thick."""
    part = summary[summary["attack_suite"] == attack_suite["name"]]
    attacks = [a for a in dict.fromkeys(part["attack"]) if a != "worst-case"]
    for (model, attack), group in part.groupby(["model", "attack"], sort=False):
        color = colors[models.index(model) % len(colors)]
        worst = attack == "worst-case"
        style, marker = ("-", "o") if worst else ATTACK_STYLES[attacks.index(attack) % len(ATTACK_STYLES)]
        eps = [0.0] + group["eps"].tolist()
        acc = [group["clean_accuracy"].iloc[0]] + group["robust_accuracy"].tolist()
        ax.plot(eps, acc, color=color, lw=2.4 if worst else 1.1, ls=style, marker=marker, ms=4 if worst else 3,
                label=f"{model}: {attack}")  # fmt: skip
        if worst:
            ax.fill_between(
                group["eps"], group["robust_accuracy_low"], group["robust_accuracy_high"], color=color, alpha=0.15
            )
    _axes(ax, panel_title(attack_suite), f"eps ({eps_unit(attack_suite)})", "robust accuracy")


def _certified_panel(ax: Any, results: Results, summary: pd.DataFrame, suite: Any, colors: list, models: list) -> None:
    """Certified accuracy against radius, a line per model and sigma; beside it, thin and grey-dashed, the
    worst-case attacked accuracy of the same model in each attack suite of the same norm (an upper bound on
    the model's robust accuracy, where the certified lines bound the smoothed classifier's from below)."""
    rows = pd.DataFrame(results.get("certified", []), columns=CERTIFIED_COLUMNS)
    part = rows[rows["certification_suite"] == suite["name"]]
    sigmas = sorted(part["sigma"].unique())
    for (model, sigma), group in part.groupby(["model", "sigma"], sort=False):
        color = colors[models.index(model) % len(colors)]
        number = sigmas.index(sigma)
        style, marker = ("-", "o") if number == 0 else ATTACK_STYLES[(number - 1) % len(ATTACK_STYLES)]
        ax.plot(group["radius"], group["certified_accuracy"], color=color, lw=2.0, ls=style, marker=marker, ms=4,
                label=f"{model}: certified, sigma {sigma:g}")  # fmt: skip
    attacked = summary[(summary["attack"] == "worst-case") & (summary["norm"] == suite["norm"])]
    for (model, attack_suite), group in attacked.groupby(["model", "attack_suite"], sort=False):
        color = colors[models.index(model) % len(colors)]
        eps = [0.0] + group["eps"].tolist()
        acc = [group["clean_accuracy"].iloc[0]] + group["robust_accuracy"].tolist()
        ax.plot(eps, acc, color=color, lw=0.9, ls=(0, (2, 2)), alpha=0.7, label=f"{model}: attacked ({attack_suite})")
    _axes(ax, f"{suite['name']} (certified, {suite['norm']})", "radius", "certified / attacked accuracy")
    top = max(suite["radius"]) or 1.0
    ax.set_xlim(-0.02 * top, 1.05 * top)  # the attacks' grid may reach further


def _verified_panel(ax: Any, summary: pd.DataFrame, suite: Any, colors: list, models: list) -> None:
    """Per model, proved accuracy (solid, from below) and attacked accuracy (dashed, from above) against eps,
    and the band between them: the examples neither proved nor broken."""
    rows = pd.DataFrame(sandwich(summary, suite))
    for model, group in rows.groupby("model", sort=False) if len(rows) else []:
        color = colors[models.index(model) % len(colors)]
        ax.plot(group["eps"], group["proved"], color=color, lw=2.0, marker="o", ms=4, label=f"{model}: proved")
        ax.plot(group["eps"], group["attacked"], color=color, lw=1.2, ls="--", marker="v", ms=3,
                label=f"{model}: attacked")  # fmt: skip
        ax.fill_between(group["eps"], group["proved"], group["attacked"], color=color, alpha=0.15)
    _axes(ax, f"{suite['name']} (proved / attacked, {suite['norm']})", "eps", "proved / attacked accuracy")


def _axes(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)


def eps_writer(results: Results):
    """A function from a sample to its eps as the suite wrote it (``8/255``), else in input units."""
    labels = {}
    for suite in results["suite"]["attack_suites"]:
        for eps, text in zip(suite["eps"], suite.get("eps_written") or []):
            labels[(suite["name"], eps)] = text
    return lambda sample: labels.get((sample["attack_suite"], sample["eps"]), f"{sample['eps']:g}")


MAX_TILES = 24  # a report's example grid never shows more than this many examples


def _shown(image: np.ndarray, low: float, high: float, scale: float | None = None) -> tuple[np.ndarray, dict]:
    """An example (or, with ``scale``, a perturbation) as an array ``imshow`` draws, and how to draw it."""
    shown = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    if shown.ndim == 1:  # a table row: one strip of features
        shown = shown[None, :]
    if scale is not None:  # colour perturbations: their mean across channels
        return (shown.mean(axis=-1) if shown.ndim == 3 else shown), dict(vmin=-scale, vmax=scale, cmap="coolwarm")
    if shown.ndim == 3:  # colour images: scaled to [0, 1] from the bounds
        return np.clip((shown - low) / (high - low), 0, 1), {}
    return shown, dict(vmin=low, vmax=high, cmap="gray")


def _grid_samples(samples: list) -> tuple[list[str], list[list]]:
    """Samples by model, as many per model as keep the grid within :data:`MAX_TILES` tiles."""
    models = list(dict.fromkeys(s["model"] for s in samples))[:MAX_TILES]
    per_model = max(1, min(4, MAX_TILES // len(models)))
    return models, [[s for s in samples if s["model"] == m][:per_model] for m in models]


def examples_png(results: Results) -> bytes | None:
    """A compact grid: one row per model, each example a tile of original, adversarial and perturbation."""
    samples = results.get("samples") or []
    if not samples or np.asarray(samples[0]["x"]).ndim == 1:  # tables: the report lists their changed features
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    models, rows = _grid_samples(samples)
    info = results["data"].get("info", {})
    written = eps_writer(results)
    columns = max(len(r) for r in rows)
    lower, upper = results["data"]["bounds"]
    low, high = float(np.min(lower)), float(np.max(upper))  # one grey scale for every feature
    fig, axes = plt.subplots(len(models), 3 * columns, figsize=(2.6 * columns, 1.05 * len(models) + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row_axes, model, row in zip(axes, models, rows):
        row_axes[0].set_title(model, fontsize=7, loc="left", fontweight="bold")
        for tile, sample in enumerate(row):
            x, x_adv = np.asarray(sample["x"]), np.asarray(sample["x_adv"])
            delta = x_adv - x
            scale = max(float(np.abs(delta).max()), 1e-12)
            panels = (
                (_shown(x, low, high), class_label(info, sample["label"])),
                (_shown(x_adv, low, high), f"→ {class_label(info, sample['adv_pred'])} @ {written(sample)}"),
                (_shown(delta, low, high, scale), f"±{scale:.3g}"),
            )
            for offset, ((shown, style), caption) in enumerate(panels):
                ax = row_axes[3 * tile + offset]
                ax.imshow(shown, **style)
                ax.text(0.5, -0.06, caption, transform=ax.transAxes, fontsize=6, ha="center", va="top")
    fig.subplots_adjust(wspace=0.05, hspace=0.45)
    png = figure_png(fig)
    plt.close(fig)
    return png

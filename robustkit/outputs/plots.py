"""The report's pictures: robustness curves and example images (PNG, through matplotlib if installed)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from robustkit.evaluation.results import Results

PLOT_HINT = "Install matplotlib (pip install matplotlib) to get the robustness curves and example images."


def _figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def curves_png(results: Results, summary: pd.DataFrame) -> bytes | None:
    """Robust accuracy against eps: one panel per attack suite, one line per model and attack."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    attack_suites = results["suite"]["attack_suites"]
    fig, axes = plt.subplots(1, len(attack_suites), figsize=(5.5 * len(attack_suites), 4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    models = list(results["models"])
    for ax, attack_suite in zip(axes[0], attack_suites):
        part = summary[summary["attack_suite"] == attack_suite["name"]]
        for (model, attack), group in part.groupby(["model", "attack"], sort=False):
            color = colors[models.index(model) % len(colors)]
            worst = attack == "worst-case"
            eps = [0.0] + group["eps"].tolist()
            acc = [group["clean_accuracy"].iloc[0]] + group["robust_accuracy"].tolist()
            ax.plot(
                eps,
                acc,
                color=color,
                lw=2.4 if worst else 1.2,
                ls="-" if worst else "--",
                marker="o" if worst else ".",
                label=f"{model} {attack}",
            )
            if worst:
                ax.fill_between(
                    group["eps"], group["robust_accuracy_low"], group["robust_accuracy_high"], color=color, alpha=0.15
                )
        ax.set_title(f"{attack_suite['name']} ({attack_suite['norm']})")
        ax.set_xlabel("eps")
        ax.set_ylabel("robust accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Robustness curves: {results['suite']['name']}")
    png = _figure_png(fig)
    plt.close(fig)
    return png


def examples_png(results: Results) -> bytes | None:
    """Original / adversarial / perturbation images for the report's samples."""
    samples = results.get("samples") or []
    if not samples:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(len(samples), 3, figsize=(6, 2 * len(samples)), squeeze=False)
    lower, upper = results["data"]["bounds"]
    low, high = float(np.min(lower)), float(np.max(upper))  # one grey scale for every feature
    for row, sample in zip(axes, samples):
        x, x_adv = np.asarray(sample["x"]), np.asarray(sample["x_adv"])
        delta = x_adv - x
        scale = max(float(np.abs(delta).max()), 1e-12)
        for ax, image, title, kwargs in (
            (row[0], x, f"{sample['model']}: label {sample['label']}", dict(vmin=low, vmax=high, cmap="gray")),
            (
                row[1],
                x_adv,
                f"{sample['attack']} eps={sample['eps']:g}: {sample['adv_pred']}",
                dict(vmin=low, vmax=high, cmap="gray"),
            ),
            (row[2], delta, f"perturbation (±{scale:.3f})", dict(vmin=-scale, vmax=scale, cmap="coolwarm")),
        ):
            shown = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
            if shown.ndim == 1:  # a table row: one strip of features
                shown = shown[None, :]
            if shown.ndim == 3:  # colour: the image itself, and the perturbation's mean across channels
                shown = np.clip((shown - low) / (high - low), 0, 1) if ax is not row[2] else shown.mean(axis=-1)
            ax.imshow(shown, **kwargs)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    png = _figure_png(fig)
    plt.close(fig)
    return png

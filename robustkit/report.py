"""Reports of a benchmark run: ``results.json``, ``summary.csv``, ``report.md``, ``report.html``
and the robustness curves as PNG.

Everything is rendered from the ``results.json`` dictionary, so ``robustkit report
results.json`` re-renders a report without running anything.

Example:
    >>> render_markdown_table([{"a": 1, "b": 0.5}], ["a", "b"])
    '| a | b |\\n|---|---|\\n| 1 | 0.5 |'
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from robustkit.bench import summarize
from robustkit.errors import DataError

PLOT_HINT = "Install matplotlib (pip install matplotlib) to get the robustness curves and example images."


def _atomic_write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_results(path: str | Path) -> dict:
    """Read a ``results.json`` written by robustkit."""
    try:
        results = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"Results file {str(path)!r} does not exist.") from None
    except (OSError, ValueError) as err:
        raise DataError(f"Could not read {str(path)!r} as robustkit results: {err}") from None
    if not isinstance(results, dict) or not str(results.get("format", "")).startswith("robustkit-results/"):
        raise DataError(f"{str(path)!r} is not a robustkit results.json (no 'format': 'robustkit-results/1').")
    return results


def render_markdown_table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{100 * value:.1f}"


def pivot_rows(summary: pd.DataFrame, threat: str) -> tuple[list[dict], list[str]]:
    """Rows of robust accuracy (%) per model and attack, one column per eps."""
    part = summary[summary["threat"] == threat]
    eps_values = sorted(part["eps"].unique())
    columns = ["model", "attack", "clean"] + [f"{e:g}" for e in eps_values]
    rows = []
    for (model, attack), group in part.groupby(["model", "attack"], sort=False):
        row = {"model": model, "attack": f"**{attack}**" if attack == "worst-case" else attack,
               "clean": _pct(group["clean_accuracy"].iloc[0])}
        for _, r in group.iterrows():
            row[f"{r['eps']:g}"] = _pct(r["robust_accuracy"])
        rows.append(row)
    return rows, columns


def markdown_report(results: dict, summary: pd.DataFrame) -> str:
    env = results["environment"]
    suite = results["suite"]
    data = results["data"]
    parts = [
        f"# Robustness report: {suite['name']}",
        "",
        f"Data: **{data['name']}**, {data['n']} test examples, bounds {data['bounds']} (fingerprint `{data['fingerprint']}`). "
        f"Seed {suite['seed']}. robustkit {env['robustkit']}, TensorFlow {env['tensorflow']}, Keras {env['keras']}, "
        f"Python {env['python']}. Created {results['created']}.",
        "",
        "Robust accuracy in % (an example counts as robust when it is classified correctly and no attack "
        "at that eps changed its prediction). **worst-case** takes each example's strongest attack.",
    ]
    for threat in suite["threat_models"]:
        rows, columns = pivot_rows(summary, threat["name"])
        attacks = ", ".join(
            f"{a['name']} ({a['type']}" + (f", {a['steps']} steps" if a["type"] == "pgd" else "") + ")" for a in threat["attacks"]
        )
        parts += ["", f"## {threat['name']} ({threat['norm']}): {attacks}", "", render_markdown_table(rows, columns)]
    worst = summary[summary["attack"] == "worst-case"]
    parts += ["", "## Worst case with 95% Wilson intervals", ""]
    rows = [
        {"model": r.model, "threat": r.threat, "eps": f"{r.eps:g}", "robust accuracy": _pct(r.robust_accuracy),
         "95% interval": f"[{_pct(r.robust_accuracy_low)}, {_pct(r.robust_accuracy_high)}]",
         "median norm": "–" if np.isnan(r.median_norm) else f"{r.median_norm:.4f}",
         "grad evals": r.grad_evals, "seconds": f"{r.seconds:.2f}"}
        for r in worst.itertuples()
    ]
    parts.append(render_markdown_table(rows, list(rows[0].keys()) if rows else []))
    checks = results.get("checks") or []
    if checks:
        parts += ["", "## Sanity checks", ""]
        parts.append(render_markdown_table(
            [{"model": c["model"], "check": c["name"], "status": c["status"].upper(), "value": c["value"], "meaning": c["message"]} for c in checks],
            ["model", "check", "status", "value", "meaning"],
        ))
    parts += ["", "## Models", ""]
    parts.append(render_markdown_table(
        [{"model": k, "source": v["spec"], "weights": f"`{v['fingerprint']}`", "clean accuracy": _pct(v["clean_accuracy"])} for k, v in results["models"].items()],
        ["model", "source", "weights", "clean accuracy"],
    ))
    run = results.get("run", {})
    parts += ["", f"Run time {run.get('seconds', float('nan')):.1f} s; cells computed {run.get('cells_computed', '?')}, "
              f"resumed {run.get('cells_reused', '?')}. Full table: `summary.csv`; everything: `results.json`.", ""]
    return "\n".join(parts)


def _figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def curves_png(results: dict, summary: pd.DataFrame) -> bytes | None:
    """Robust accuracy against eps: one panel per threat model, one line per model and attack."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    threats = results["suite"]["threat_models"]
    fig, axes = plt.subplots(1, len(threats), figsize=(5.5 * len(threats), 4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    models = list(results["models"])
    for ax, threat in zip(axes[0], threats):
        part = summary[summary["threat"] == threat["name"]]
        for (model, attack), group in part.groupby(["model", "attack"], sort=False):
            color = colors[models.index(model) % len(colors)]
            worst = attack == "worst-case"
            eps = [0.0] + group["eps"].tolist()
            acc = [group["clean_accuracy"].iloc[0]] + group["robust_accuracy"].tolist()
            ax.plot(eps, acc, color=color, lw=2.4 if worst else 1.2, ls="-" if worst else "--", marker="o" if worst else ".",
                    label=f"{model} {attack}")
            if worst:
                ax.fill_between(group["eps"], group["robust_accuracy_low"], group["robust_accuracy_high"], color=color, alpha=0.15)
        ax.set_title(f"{threat['name']} ({threat['norm']})")
        ax.set_xlabel("eps")
        ax.set_ylabel("robust accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Robustness curves: {results['suite']['name']}")
    png = _figure_png(fig)
    plt.close(fig)
    return png


def examples_png(results: dict) -> bytes | None:
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
    low, high = results["data"]["bounds"]
    for row, sample in zip(axes, samples):
        x, x_adv = np.asarray(sample["x"]), np.asarray(sample["x_adv"])
        delta = x_adv - x
        scale = max(float(np.abs(delta).max()), 1e-12)
        for ax, image, title, kwargs in (
            (row[0], x, f"{sample['model']}: label {sample['label']}", dict(vmin=low, vmax=high, cmap="gray")),
            (row[1], x_adv, f"{sample['attack']} eps={sample['eps']:g}: {sample['adv_pred']}", dict(vmin=low, vmax=high, cmap="gray")),
            (row[2], delta, f"perturbation (±{scale:.3f})", dict(vmin=-scale, vmax=scale, cmap="coolwarm")),
        ):
            shown = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
            if shown.ndim == 3:  # colour: show the perturbation's magnitude across channels
                shown = np.clip(shown, 0, 1) if ax is not row[2] else shown.mean(axis=-1)
            ax.imshow(shown, **kwargs)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    png = _figure_png(fig)
    plt.close(fig)
    return png


HTML_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:0.9rem}
th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}
.pass{color:#176f2c}.warn{color:#9a6700}.fail{color:#b42318;font-weight:bold}
img{max-width:100%}
"""


def html_report(results: dict, summary: pd.DataFrame, curves: bytes | None, grid: bytes | None) -> str:
    suite, data, env = results["suite"], results["data"], results["environment"]
    body = [
        f"<h1>Robustness report: {html.escape(suite['name'])}</h1>",
        f"<p>Data <b>{html.escape(data['name'])}</b>, {data['n']} test examples, bounds {data['bounds']}. Seed {suite['seed']}. "
        f"robustkit {env['robustkit']}, TensorFlow {env['tensorflow']}, Keras {env['keras']}, Python {env['python']}. "
        f"Created {html.escape(results['created'])}.</p>",
    ]
    if curves:
        body.append(f'<h2>Robustness curves</h2><img alt="robustness curves" src="data:image/png;base64,{base64.b64encode(curves).decode()}">')
    else:
        body.append(f"<p><i>{PLOT_HINT}</i></p>")
    for threat in suite["threat_models"]:
        rows, columns = pivot_rows(summary, threat["name"])
        frame = pd.DataFrame(rows, columns=columns)
        frame["attack"] = frame["attack"].str.replace("**", "", regex=False)
        body.append(f"<h2>{html.escape(threat['name'])} ({threat['norm']}): robust accuracy %</h2>")
        body.append(frame.to_html(index=False, escape=True, classes="robust-accuracy"))
    checks = results.get("checks") or []
    if checks:
        body.append("<h2>Sanity checks</h2><table><tr><th>model</th><th>check</th><th>status</th><th>value</th><th>meaning</th></tr>")
        for c in checks:
            body.append(f"<tr><td>{html.escape(c['model'])}</td><td>{html.escape(c['name'])}</td><td class='{c['status']}'>{c['status'].upper()}</td>"
                        f"<td>{html.escape(str(c['value']))}</td><td style='text-align:left'>{html.escape(c['message'])}</td></tr>")
        body.append("</table>")
    if grid:
        body.append(f'<h2>Examples</h2><img alt="original, adversarial and perturbation images" src="data:image/png;base64,{base64.b64encode(grid).decode()}">')
    body.append("<h2>All results</h2>")
    body.append(summary.to_html(index=False, float_format=lambda v: f"{v:.4g}", classes="summary"))
    return f"<!doctype html><html><head><meta charset='utf-8'><title>robustkit: {html.escape(suite['name'])}</title><style>{HTML_STYLE}</style></head><body>{''.join(body)}</body></html>"


def write_report(results: dict, out_dir: str | Path, summary: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write every report file for ``results`` into ``out_dir``; returns what was written."""
    out_dir = Path(out_dir)
    if summary is None:
        summary, _ = summarize(results)
    written: dict[str, Path] = {}

    def put(name: str, content: bytes | str) -> None:
        path = out_dir / name
        _atomic_write(path, content)
        written[name] = path

    put("results.json", json.dumps(results, indent=1, allow_nan=True))
    put("summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    put("report.md", markdown_report(results, summary))
    curves = curves_png(results, summary)
    grid = examples_png(results)
    if curves:
        put("robustness_curves.png", curves)
    if grid:
        put("examples.png", grid)
    put("report.html", html_report(results, summary, curves, grid))
    return written

"""Running a benchmark suite from the command line: overrides, progress bar, summary table."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from robustkit.constraints import FeatureSpec
from robustkit.errors import ConfigError
from robustkit.evaluation.corrupted import overview
from robustkit.evaluation.runner import BenchmarkRun, run_benchmark
from robustkit.evaluation.suites import BenchmarkSuite, load_benchmark_suite, load_evaluation_suite
from robustkit.evaluation.verification_suites import split_suites
from robustkit.outputs.corruption_report import missing_baseline
from robustkit.outputs.notes import flagged_checks, run_notes
from robustkit.outputs.verified_report import sandwich, unknown_share
from robustkit.sources.models import model_label, with_option

PIPED_WIDTH = 200


def _width(stream: Any) -> int | None:
    """A terminal's own width; piped or redirected, wide enough that tables keep whole names on one line
    (rich would take 80 columns), unless COLUMNS says otherwise."""
    return None if stream.isatty() or "COLUMNS" in os.environ else PIPED_WIDTH


console = Console(stderr=True, width=_width(sys.stderr))
out = Console(width=_width(sys.stdout))


def suite_with_overrides(args) -> BenchmarkSuite:
    """The benchmark suite named on the command line, with the options that override it."""
    suite = load_benchmark_suite(args.suite)
    if args.model:
        suite.models = list(args.model)
    if args.name or args.model:  # a run on the user's models is theirs: named after them, not the suite
        suite.name = args.name or run_name(suite.models)
    if args.output:
        suite.models = [with_option(model, "output", args.output) for model in suite.models]
    if args.data:
        suite.data = args.data
    if args.attack:
        loaded = [load_evaluation_suite(a) for a in args.attack]
        split = split_suites(loaded)
        suite.attack_suites, suite.certification_suites, suite.verification_suites, suite.corruption_suites = split
    if args.eps:
        suite.attack_suites = [
            dataclasses.replace(s, eps=tuple(sorted(set(args.eps))), headline_eps=None) for s in suite.attack_suites
        ]
    if args.mce_baseline:
        suite.corruption_suites = [dataclasses.replace(s, baseline=args.mce_baseline) for s in suite.corruption_suites]
    if args.bounds:
        low, high = args.bounds
        if not low < high:
            raise ConfigError(f"--bounds needs LOW < HIGH, got {low:g} {high:g}.")
        suite.bounds = (low, high)
    if args.class_names:
        suite.class_names = tuple(args.class_names)
    suite.features = features_with_overrides(suite.features, args)
    if args.limit is not None:
        suite.limit = args.limit
    if args.shard_size is not None:
        suite.shard_size = args.shard_size
    if args.seed is not None:
        suite.seed = args.seed
    return suite


def run_name(models: list[str]) -> str:
    """The name of a run on the given models (its report folder and title): the model's, or the first's.

    Example:
        >>> run_name(["models/churn.keras"]), run_name(["a.keras", "digits-cnn", "b.keras"])
        ('churn', 'a-and-2-more')
    """
    labels = [model_label(m) for m in models]
    return labels[0] if len(labels) == 1 else f"{labels[0]}-and-{len(labels) - 1}-more"


def features_with_overrides(features: FeatureSpec, args) -> FeatureSpec:
    """The suite's feature constraints with those the options give (each option replaces its key)."""
    return FeatureSpec(
        args.eps_scale if args.eps_scale is not None else features.eps_scale,
        args.immutable if args.immutable else features.immutable,
        args.integer if args.integer else features.integer,
        tuple(args.one_hot) if args.one_hot else features.one_hot,
    )


def summary_table(summary: pd.DataFrame, units: dict[str, str] | None = None) -> Table:
    """The worst case per model, attack suite and eps; ``units``: what each suite's eps counts in, when it is not
    input units (``x std per feature``), written beside its eps."""
    units = units or {}
    table = Table(title="robust accuracy (worst case over attacks)", show_lines=False)
    for column in ("model", "attack suite", "eps", "clean", "robust", "95% interval", "grad evals"):
        table.add_column(column, justify="left" if column in ("model", "attack suite") else "right")
    for row in summary[summary["attack"] == "worst-case"].itertuples():
        unit = units.get(str(row.attack_suite), "input units")
        table.add_row(
            row.model,
            row.attack_suite,
            f"{row.eps:g}" if unit == "input units" else f"{row.eps:g} {unit}",
            f"{100 * row.clean_accuracy:.1f}%",
            f"{100 * row.robust_accuracy:.1f}%",
            f"[{100 * row.robust_accuracy_low:.1f}, {100 * row.robust_accuracy_high:.1f}]",
            str(row.grad_evals),
        )
    return table


def verified_tables(results: Any, summary: pd.DataFrame) -> list[Table]:
    """Per verification suite: proved, attacked and unknown accuracy per model and eps."""
    tables = []
    for suite in results["suite"].get("verification_suites", []):
        table = Table(title=f"{suite['name']}: proved <= robust <= attacked", show_lines=False)
        for column in ("model", "eps", "proved", "attacked", "unknown"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for row in sandwich(summary, suite):
            shares = (row["proved"], row["attacked"], unknown_share(row))
            table.add_row(row["model"], f"{row['eps']:g}", *(f"{100 * v:.1f}%" for v in shares))
        tables.append(table)
    return tables


def corruption_tables(results: Any, summary: pd.DataFrame) -> list[Table]:
    """Per corruption suite: each model's clean and mean corruption accuracy, its worst corruption and mCE."""
    tables = []
    for suite in results["suite"].get("corruption_suites", []):
        table = Table(title=f"{suite['name']}: accuracy under common corruptions", show_lines=False)
        for column in ("model", "clean", "mean", "worst corruption", "mCE"):
            table.add_column(column, justify="left" if column in ("model", "worst corruption") else "right")
        specs = {label: info["spec"] for label, info in results["models"].items()}
        for model in results["models"]:
            figures = overview(summary, model, suite, specs)
            worst = figures["worst"]
            shown = f"{worst} ({100 * figures['by_corruption'][worst]:.1f}%)" if worst else "–"
            mce = "–" if figures["mce"] != figures["mce"] else f"{100 * figures['mce']:.1f}%"
            table.add_row(model, f"{100 * figures['clean']:.1f}%", f"{100 * figures['mean']:.1f}%", shown, mce)
        tables.append(table)
    return tables


def print_closing_notes(results: Any, report: Path | None) -> None:
    """The classes, substitutions and constraints, then every trust check that warns or fails, per model."""
    for note in run_notes(results):
        console.print(note, highlight=False, soft_wrap=True)
    for suite in results["suite"].get("corruption_suites", []):
        missing = missing_baseline(suite, results)
        if missing:
            console.print(f"{suite['name']}: {missing}", highlight=False, soft_wrap=True)
    flagged = flagged_checks(results)
    if flagged:
        where = f" (why and what to do: {report})" if report else ""
        console.print(f"[bold yellow]trust checks that warn or fail{where}:[/]", highlight=False, soft_wrap=True)
        for line in flagged:
            console.print(f"  {line}", highlight=False, soft_wrap=True)


def progress_bar() -> Progress:
    """The commands' progress bar: what runs, the bar, done of total, time so far and the ETA (on stderr)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, transient=True)


def run_with_progress(suite: BenchmarkSuite, out_dir: Path, args) -> BenchmarkRun:
    if args.quiet:
        return _run(suite, out_dir, args, None)
    with progress_bar() as progress:
        task = progress.add_task(f"{suite.name}", total=None)

        def update(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total, description=label)

        return _run(suite, out_dir, args, update)


def _run(suite: BenchmarkSuite, out_dir: Path, args, progress) -> BenchmarkRun:
    """The cells computed as Ray tasks first when --ray is given, then the run (which finds them saved)."""
    ray_address = getattr(args, "ray", None)
    if ray_address is None:
        return run_benchmark(suite, out_dir, progress=progress, fresh=args.fresh)
    from robustkit.evaluation.ray_executor import compute_with_ray

    if args.fresh:
        raise ConfigError("--fresh with --ray: delete the report folder's cells/ instead.")
    address = None if ray_address == "local" else ray_address
    tasks = compute_with_ray(suite, out_dir, address, args.ray_threads, progress)
    return run_benchmark(suite, out_dir, progress=progress, executor=f"ray: {tasks} tasks")

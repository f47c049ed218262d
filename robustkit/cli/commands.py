"""The commands ``bench``, ``attack``, ``models`` and ``report`` (``gate`` has its own module)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.table import Table

from robustkit.attacks import ATTACKS, build_attack
from robustkit.cli.running import (
    console,
    corruption_tables,
    features_with_overrides,
    out,
    print_closing_notes,
    run_with_progress,
    suite_with_overrides,
    summary_table,
    verified_tables,
)
from robustkit.constraints import FeatureSpec
from robustkit.errors import ConfigError
from robustkit.evaluation.results import read_results
from robustkit.evaluation.suite_files import available_suites, read_toml
from robustkit.files import atomic_path
from robustkit.outputs.eps_units import eps_unit
from robustkit.outputs.plots import PLOT_HINT
from robustkit.outputs.report import write_report
from robustkit.ranges import ensure_data_in_bounds, in_input_units
from robustkit.sources.classes import with_class_names
from robustkit.sources.data import load_data
from robustkit.sources.models import load_model, with_option
from robustkit.sources.zoo import ZOO, model_path
from robustkit.training.augment import mix_adversarial


def cmd_bench(args) -> int:
    suite = suite_with_overrides(args)
    out_dir = Path(args.out) if args.out else Path("reports") / suite.name
    run = run_with_progress(suite, out_dir, args)
    written = write_report(run.results, out_dir, run.summary)
    if not args.quiet:
        if run.results["suite"]["attack_suites"]:
            units = {s["name"]: eps_unit(s) for s in run.results["suite"]["attack_suites"]}
            out.print(summary_table(run.summary, units))
        for table in verified_tables(run.results, run.summary) + corruption_tables(run.results, run.summary):
            out.print(table)
        print_closing_notes(run.results, written.get("report.md"))
        resumed = f", {run.cells_reused} resumed" if run.cells_reused else ""
        console.print(f"{run.cells_computed} cells computed{resumed} in {run.results['run']['seconds']:.1f} s")
        console.print(f"wrote {', '.join(str(p) for p in written.values())}")
        if "robustness_curves.png" not in written and not any(name.endswith(".png") for name in written):
            console.print(PLOT_HINT)
    return 0


def _attack_settings(args, eps: float, bounds) -> dict:
    """The attack's settings from the options, each attack's defaults filling the rest; an option the
    attack's class does not take is a usage error. Every registered attack (ensembles too) is asked the
    same questions: what it takes, and what its budget counts."""
    kind, attack = args.attack, ATTACKS[args.attack]
    settings: dict = dict(eps=eps, norm=args.norm, bounds=bounds, seed=args.seed)
    if args.loss is not None and not attack.accepts("loss"):
        raise ConfigError(f"--loss is not a setting of {kind}: it always uses its own loss ({attack.default_loss()}).")
    if attack.accepts("loss"):
        settings["loss"] = args.loss or attack.default_loss()
    if attack.budget is None:
        if args.steps is not None or args.restarts is not None:
            raise ConfigError(
                f"--steps and --restarts are settings of iterative attacks; {kind} takes one step from x."
            )
    else:
        settings[attack.budget] = args.steps or attack.default_budget()
    if attack.accepts("restarts"):
        settings["restarts"] = args.restarts or 1
    elif args.restarts is not None:
        raise ConfigError(f"--restarts is not a setting of {kind}.")
    if attack.accepts("step_size"):
        settings["step_size"] = args.step_size
    elif args.step_size is not None:
        raise ConfigError(f"--step-size is not a setting of {kind}: it chooses its own steps.")
    if attack.budget is not None and attack.accepts("random_start"):
        settings["random_start"] = True  # an iterative attack restarts from random points
    for option, setting, value in (
        ("--ensemble", "version", args.ensemble),
        ("--straight-through", "straight_through", args.straight_through or None),
    ):
        if value is not None and not attack.accepts(setting):
            raise ConfigError(f"{option} is not a setting of {kind}.")
        if value is not None:
            settings[setting] = value
    return settings


def cmd_attack(args) -> int:
    out_path = Path(args.out)
    if out_path.suffix != ".npz":
        raise ConfigError(f"--out must end in .npz, got {args.out!r}.")
    data = with_class_names(load_data(args.data), args.class_names)
    x, y = (data.x_train, data.y_train) if args.split == "train" else (data.x_test, data.y_test)
    if x is None or y is None:
        raise ConfigError(f"The data {args.data!r} has no {args.split} split.")
    if args.bounds and not args.bounds[0] < args.bounds[1]:
        raise ConfigError(f"--bounds needs LOW < HIGH, got {args.bounds[0]:g} {args.bounds[1]:g}.")
    bounds = tuple(args.bounds) if args.bounds else data.bounds
    ensure_data_in_bounds(x, bounds, f"The {args.split} data of {args.data!r}")
    features = features_with_overrides(FeatureSpec(), args)
    constraints = features.resolve(data.info.get("features"), x, bounds) if features else None
    # under a per-feature scale eps is in the scale's units, and a fraction "a/b" is just that number
    eps = in_input_units(args.eps, (0.0, 1.0) if features.eps_scale is not None else bounds)
    attack = build_attack(args.attack, **_attack_settings(args, eps, bounds), constraints=constraints)
    model = load_model(with_option(args.model, "output", args.output) if args.output else args.model)
    start = time.perf_counter()
    result = attack.run(model, x, y)
    x_adv = result.x_adv.numpy()
    inputs, labels, flags = mix_adversarial(x, x_adv, y, args.mix, args.keep_originals, seed=args.seed)
    arrays = {  # the layout ATTACK_FILE describes (the README and --help quote it)
        "x": x,
        "x_adv": x_adv,
        "y": y,
        "clean_pred": result.clean_pred,
        "adv_pred": result.adv_pred,
        "success": result.success,
        "norms": result.norms,
        "x_train": inputs,
        "y_train": labels,
        "is_adversarial": flags,
    }
    with atomic_path(out_path) as tmp:
        np.savez_compressed(tmp, **arrays)
    if not args.quiet:
        console.print(
            f"{attack!r}: {len(y)} examples, success rate {result.success_rate:.1%} of those classified correctly, "
            "robust accuracy "
            f"{result.robust_accuracy:.1%} (clean {result.clean_accuracy:.1%}) in {time.perf_counter() - start:.1f} s; "
            f"wrote {out_path}"
        )
    return 0


def cmd_models(args) -> int:
    table = Table(title="robustkit model zoo (trained on first use, cached)")
    for column in ("name", "data", "description", "cached"):
        table.add_column(column)
    for name, entry in sorted(ZOO.items()):
        table.add_row(name, entry.data, entry.description, "yes" if model_path(name).exists() else "no")
    out.print(table)
    return 0


def _shown_path(path: Path) -> str:
    """A suite file's path, relative to the working folder when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def cmd_suites(args) -> int:
    """Two narrow columns per kind (name; description and file), readable in an 80-column terminal."""
    for kind, folder in (("benchmark", "benchmarks"), ("attack, certification and verification", "attacks")):
        table = Table(
            title=f"{kind} suites (a file in ./{folder} overrides robustkit's own)",
            show_lines=True,
            title_justify="left",
        )
        table.add_column("name", no_wrap=True)
        table.add_column("description and file", overflow="fold")
        for name, (origin, path) in sorted(available_suites(folder).items()):
            description = str(read_toml(path).get("description", ""))
            table.add_row(name, f"{description}\n[dim]{origin}: {_shown_path(path)}[/]")
        out.print(table)
    return 0


def cmd_report(args) -> int:
    results = read_results(args.results)
    out_dir = Path(args.out) if args.out else Path(args.results).parent
    written = write_report(results, out_dir)
    console.print(f"wrote {', '.join(str(p) for p in written.values())}")
    return 0

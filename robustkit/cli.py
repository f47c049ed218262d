"""The ``robustkit`` command line.

Example:
    $ robustkit bench                       # the default suite, report in reports/default/
    $ robustkit bench --model digits-cnn --attack linf --eps 0.05 0.1
    $ robustkit attack --model digits-cnn --eps 0.1 --out adv.npz
    $ robustkit models
    $ robustkit report reports/default/results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table

from robustkit.errors import ConfigError, RobustkitError

console = Console(stderr=True)
out = Console()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _eps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"eps must be a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"eps must be finite and >= 0, got {text!r}")
    return value


def _add_run_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("suite", nargs="?", default="default", help="suite name in benchmarks/ or a .toml path (default: default)")
    parser.add_argument("--model", nargs="+", help="models instead of the suite's (zoo names, .keras, SavedModel, module:function)")
    parser.add_argument("--data", help="data instead of the suite's: digits, a .npz file, keras:mnist, ...")
    parser.add_argument("--attack", nargs="+", help="attack suites instead of the suite's (names in attacks/ or .toml paths)")
    parser.add_argument("--eps", nargs="+", type=_eps, help="epsilon grid instead of each attack suite's")
    parser.add_argument("--limit", type=_positive_int, help="use only the first N test examples")
    parser.add_argument("--out", help=f"report folder (default: {default_out})")
    parser.add_argument("--seed", type=_positive_int, help="seed instead of the suite's")
    parser.add_argument("--fresh", action="store_true", help="recompute every cell instead of resuming")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robustkit", description="Adversarial-robustness testing for Keras models.")
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    sub = parser.add_subparsers(dest="command")

    bench = sub.add_parser("bench", help="run a benchmark suite and write reports")
    _add_run_options(bench, "reports/<suite>")

    check = sub.add_parser("check", help="the robustness gate: run a suite, compare, exit 1 on failure")
    _add_run_options(check, "reports/<suite>-check")
    check.add_argument("--baseline", help="baseline results.json (default: reports/<suite>/results.json, if present)")
    check.add_argument("--no-baseline", action="store_true", help="do not compare with a baseline")
    check.add_argument("--min-robust-accuracy", nargs="+", default=[], metavar="[MODEL/]THREAT:EPS=MIN",
                       help="thresholds on worst-case robust accuracy, e.g. linf:0.1=0.80")
    check.add_argument("--tolerance", type=float, help="fail on any drop larger than this (instead of the statistical test)")
    check.add_argument("--confidence", type=float, help="confidence of the regression test (default 0.95)")
    check.add_argument("--allow-check", nargs="+", default=[], metavar="NAME", help="sanity checks whose failure is allowed")
    check.add_argument("--junit", help="JUnit XML path (default: <out>/junit.xml)")
    check.add_argument("--summary", help="Markdown summary path (default: <out>/summary.md)")
    check.add_argument("--update-baseline", action="store_true", help="write this run's report as the new baseline")

    attack = sub.add_parser("attack", help="write adversarial examples of a data set to .npz")
    attack.add_argument("--model", required=True, help="zoo name, .keras file, SavedModel folder or module:function")
    attack.add_argument("--data", default="digits", help="digits (test split), a .npz file with x and y, keras:mnist, ...")
    attack.add_argument("--split", choices=["test", "train"], default="test", help="which split of the data (default: test)")
    attack.add_argument("--attack", choices=["pgd", "fgsm"], default="pgd")
    attack.add_argument("--norm", choices=["linf", "l2", "l1"], default="linf")
    attack.add_argument("--eps", type=_eps, required=True)
    attack.add_argument("--steps", type=_positive_int, default=10)
    attack.add_argument("--step-size", type=_eps)
    attack.add_argument("--restarts", type=_positive_int, default=1)
    attack.add_argument("--loss", choices=["ce", "margin", "dlr"], default="ce")
    attack.add_argument("--seed", type=_positive_int, default=0)
    attack.add_argument("--keep-originals", action="store_true", help="keep every clean example and add the adversarial ones")
    attack.add_argument("--mix", type=float, default=1.0, help="fraction of examples whose adversarial version is used (default 1)")
    attack.add_argument("--out", required=True, help="output .npz path")
    attack.add_argument("--quiet", "-q", action="store_true")

    sub.add_parser("models", help="list the model zoo")

    report = sub.add_parser("report", help="re-render the reports of a results.json")
    report.add_argument("results", help="path to results.json")
    report.add_argument("--out", help="output folder (default: the folder of results.json)")
    return parser


def _suite_with_overrides(args):
    from robustkit.suite import load_benchmark_suite, load_threat_model

    suite = load_benchmark_suite(args.suite)
    if args.model:
        suite.models = list(args.model)
    if args.data:
        suite.data = args.data
    if args.attack:
        suite.threats = [load_threat_model(name) for name in args.attack]
    if args.eps:
        suite.threats = [dataclasses.replace(t, eps=tuple(sorted(set(args.eps)))) for t in suite.threats]
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError("--limit must be >= 1.")
        suite.limit = args.limit
    if args.seed is not None:
        suite.seed = args.seed
    return suite


def summary_table(summary) -> Table:
    table = Table(title="robust accuracy (worst case over attacks)", show_lines=False)
    for column in ("model", "threat", "eps", "clean", "robust", "95% interval", "grad evals"):
        table.add_column(column, justify="left" if column in ("model", "threat") else "right")
    for row in summary[summary["attack"] == "worst-case"].itertuples():
        table.add_row(row.model, row.threat, f"{row.eps:g}", f"{100 * row.clean_accuracy:.1f}%", f"{100 * row.robust_accuracy:.1f}%",
                      f"[{100 * row.robust_accuracy_low:.1f}, {100 * row.robust_accuracy_high:.1f}]", str(row.grad_evals))
    return table


def _run(suite, out_dir: Path, args):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from robustkit.bench import run_benchmark

    if args.quiet:
        return run_benchmark(suite, out_dir, fresh=args.fresh)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{suite.name}", total=None)

        def update(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total, description=label)

        return run_benchmark(suite, out_dir, progress=update, fresh=args.fresh)


def cmd_bench(args) -> int:
    from robustkit.report import PLOT_HINT, write_report

    suite = _suite_with_overrides(args)
    out_dir = Path(args.out) if args.out else Path("reports") / suite.name
    run = _run(suite, out_dir, args)
    written = write_report(run.results, out_dir, run.summary)
    if not args.quiet:
        out.print(summary_table(run.summary))
        resumed = f", {run.cells_reused} resumed" if run.cells_reused else ""
        console.print(f"{run.cells_computed} cells computed{resumed} in {run.results['run']['seconds']:.1f} s")
        console.print(f"wrote {', '.join(str(p) for p in written.values())}")
        if "robustness_curves.png" not in written:
            console.print(PLOT_HINT)
    return 0


def cmd_check(args) -> int:
    from robustkit.gate import evaluate_gate, junit_xml, markdown_summary, parse_threshold
    from robustkit.report import _atomic_write, load_results, write_report

    suite = _suite_with_overrides(args)
    gate = suite.gate
    thresholds = [parse_threshold(f"{k}={v}") for k, v in gate.get("min_robust_accuracy", {}).items()]
    thresholds += [parse_threshold(text) for text in args.min_robust_accuracy]
    confidence = args.confidence if args.confidence is not None else gate.get("confidence", 0.95)
    if not 0.5 < confidence < 1:
        raise ConfigError(f"--confidence must lie in (0.5, 1), got {confidence}.")
    tolerance = args.tolerance if args.tolerance is not None else gate.get("tolerance")
    if tolerance is not None and not 0 <= tolerance <= 1:
        raise ConfigError(f"--tolerance must lie in [0, 1], got {tolerance}.")
    allowed = set(gate.get("allow_checks", [])) | set(args.allow_check)
    from robustkit.checks import CHECKS

    unknown = allowed - set(CHECKS)
    if unknown:
        raise ConfigError(f"Unknown sanity check(s) {sorted(unknown)}; the checks are: {', '.join(CHECKS)}.")
    baseline_dir = Path("reports") / suite.name
    baseline_path = None if args.no_baseline else Path(args.baseline or gate.get("baseline") or baseline_dir / "results.json")
    baseline = None
    if baseline_path is not None and (args.baseline or gate.get("baseline") or baseline_path.exists()) and not args.update_baseline:
        baseline = load_results(baseline_path)
    out_dir = Path(args.out) if args.out else Path("reports") / f"{suite.name}-check"
    run = _run(suite, out_dir, args)
    write_report(run.results, out_dir, run.summary)
    conditions = evaluate_gate(run.results, baseline, thresholds, confidence, tolerance, allowed)
    junit = Path(args.junit) if args.junit else out_dir / "junit.xml"
    summary = Path(args.summary) if args.summary else out_dir / "summary.md"
    _atomic_write(junit, junit_xml(conditions, suite.name))
    _atomic_write(summary, markdown_summary(conditions, run.results, baseline_path if baseline else None))
    if args.update_baseline:
        target = Path(args.baseline).parent if args.baseline else baseline_dir
        write_report(run.results, target, run.summary)
        console.print(f"baseline written to {target / 'results.json'}")
    failed = [c for c in conditions if not c.passed]
    if not args.quiet:
        for c in conditions:
            mark = "[green]pass[/]" if c.passed else "[bold red]FAIL[/]"
            if not c.passed or c.kind != "check":
                console.print(f"{mark} {c.name}: {c.message if not c.passed else c.message.split(':')[0]}", highlight=False)
        console.print(f"wrote {junit} and {summary}")
    verdict = f"robustkit gate FAILED: {len(failed)} of {len(conditions)} conditions" if failed else f"robustkit gate passed: {len(conditions)} conditions"
    console.print(("[bold red]" if failed else "[bold green]") + verdict + "[/]", highlight=False)
    for c in failed:
        console.print(f"  - {c.name}: {c.message}", highlight=False, soft_wrap=True)
    return 1 if failed else 0


def cmd_attack(args) -> int:
    import numpy as np

    from robustkit.attacks import FGSM, PGD
    from robustkit.data import load_data
    from robustkit.models import load_model

    data = load_data(args.data)
    x, y = (data.x_train, data.y_train) if args.split == "train" else (data.x_test, data.y_test)
    if x is None:
        raise ConfigError(f"The data {args.data!r} has no {args.split} split.")
    model = load_model(args.model)
    common = dict(eps=args.eps, norm=args.norm, loss=args.loss, bounds=data.bounds, seed=args.seed, step_size=args.step_size)
    if args.attack == "fgsm":
        attack = FGSM(**common)
    else:
        attack = PGD(steps=max(args.steps, 1), restarts=max(args.restarts, 1), random_start=True, **common)
    start = time.perf_counter()
    result = attack.run(model, x, y)
    from robustkit.augment import mix_adversarial

    inputs, labels, flags = mix_adversarial(x, result.x_adv.numpy(), y, args.mix, args.keep_originals, seed=args.seed)
    arrays = {"x": inputs, "y": labels, "is_adversarial": flags, "x_adv": result.x_adv.numpy(), "success": result.success,
              "adv_pred": result.adv_pred, "norms": result.norms}
    out_path = Path(args.out)
    if out_path.suffix != ".npz":
        raise ConfigError(f"--out must end in .npz, got {args.out!r}.")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)
    if not args.quiet:
        console.print(
            f"{attack!r}: {len(y)} examples, success rate {result.success_rate:.1%}, robust accuracy "
            f"{result.robust_accuracy:.1%} (clean {result.clean_accuracy:.1%}) in {time.perf_counter() - start:.1f} s; wrote {out_path}"
        )
    return 0


def cmd_models(args) -> int:
    from robustkit.zoo import ZOO, model_path

    table = Table(title="robustkit model zoo (trained on first use, cached)")
    for column in ("name", "data", "description", "cached"):
        table.add_column(column)
    for name, entry in sorted(ZOO.items()):
        table.add_row(name, entry.data, entry.description, "yes" if model_path(name).exists() else "no")
    out.print(table)
    return 0


def cmd_report(args) -> int:
    from robustkit.report import load_results, write_report

    results = load_results(args.results)
    out_dir = Path(args.out) if args.out else Path(args.results).parent
    written = write_report(results, out_dir)
    console.print(f"wrote {', '.join(str(p) for p in written.values())}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``robustkit`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import robustkit

        print(f"robustkit {robustkit.__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    commands = {"bench": cmd_bench, "check": cmd_check, "attack": cmd_attack, "models": cmd_models, "report": cmd_report}
    try:
        return commands[args.command](args)
    except RobustkitError as err:
        console.print(f"[bold red]robustkit: error:[/] {err}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted: completed cells are saved; run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())

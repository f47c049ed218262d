"""``robustkit gate``: run a suite, compare with thresholds and a baseline, exit 1 on failure."""

from __future__ import annotations

from pathlib import Path

from robustkit.cli.running import console, run_with_progress, suite_with_overrides
from robustkit.errors import ConfigError
from robustkit.evaluation.checks import ALL_CHECKS
from robustkit.evaluation.results import Results, read_results
from robustkit.files import atomic_write
from robustkit.outputs.conditions import junit_xml, markdown_summary
from robustkit.outputs.gate import (
    MEASURES,
    Condition,
    Threshold,
    check_thresholds_fit,
    evaluate_gate,
    parse_threshold,
)
from robustkit.outputs.report import write_report
from robustkit.sources.models import model_label


def _settings(args, gate: dict) -> tuple[list[Threshold], float, float | None, set[str]]:
    """Thresholds, confidence, tolerance and allowed trust-check failures: the suite's, then the options'."""
    thresholds = []
    for measure in MEASURES:  # the suite file's thresholds, then the options'
        key = f"min_{measure}_accuracy"
        thresholds += [parse_threshold(f"{k}={v}", measure) for k, v in gate.get(key, {}).items()]
        thresholds += [parse_threshold(text, measure) for text in getattr(args, key)]
    confidence = args.confidence if args.confidence is not None else gate.get("confidence", 0.95)
    if not 0.5 < confidence < 1:
        raise ConfigError(f"--confidence must lie in (0.5, 1), got {confidence}.")
    tolerance = args.tolerance if args.tolerance is not None else gate.get("tolerance")
    if tolerance is not None and not 0 <= tolerance <= 1:
        raise ConfigError(f"--tolerance must lie in [0, 1], got {tolerance}.")
    allowed = set(gate.get("allow_checks", [])) | set(args.allow_check)
    unknown = allowed - set(ALL_CHECKS)
    if unknown:
        raise ConfigError(f"Unknown trust check(s) {sorted(unknown)}; the trust checks are: {', '.join(ALL_CHECKS)}.")
    return thresholds, confidence, tolerance, allowed


HOW_TO_BASELINE = "--update-baseline writes one for this run, --baseline names another"


def _baseline(args, gate: dict, baseline_dir: Path, models: list[str]) -> tuple[Results | None, Path | None]:
    """The baseline named (--baseline, or the suite's [gate]), else the run's own committed one: the report of the
    same name, when it holds every model of the run. A baseline of other models is no baseline: say so."""
    if args.no_baseline or args.update_baseline:
        return None, None
    named = args.baseline or gate.get("baseline")
    path = Path(named or baseline_dir / "results.json")
    if named:
        return read_results(path), path
    if not path.exists():
        _note(args, f"no baseline at {path}: the gate checks thresholds and trust checks only ({HOW_TO_BASELINE})")
        return None, None
    baseline = read_results(path)
    missing = [m for m in models if m not in baseline["models"]]
    if missing:
        other = ", ".join(baseline["models"])
        _note(args, f"{path} is a run of {other}, not of {', '.join(missing)}: no baseline used ({HOW_TO_BASELINE})")
        return None, None
    return baseline, path


def _note(args, text: str) -> None:
    if not args.quiet:
        console.print(f"robustkit: note: {text}", highlight=False, soft_wrap=True)


def _print_verdict(conditions: list[Condition], quiet: bool, written: tuple[Path, Path]) -> None:
    failed = [c for c in conditions if not c.passed]
    if not quiet:
        for c in conditions:
            mark = "[dim]n/a[/]" if c.skipped else "[green]pass[/]" if c.passed else "[bold red]FAIL[/]"
            if not c.passed or c.kind != "check":
                console.print(
                    f"{mark} {c.name}: {c.message if not c.passed else c.message.split(':')[0]}", highlight=False
                )
        console.print(f"wrote {written[0]} and {written[1]}")
    verdict = (
        f"robustkit gate FAILED: {len(failed)} of {len(conditions)} conditions"
        if failed
        else f"robustkit gate passed: {len(conditions)} conditions"
    )
    console.print(("[bold red]" if failed else "[bold green]") + verdict + "[/]", highlight=False)
    for c in failed:
        console.print(f"  - {c.name}: {c.message}", highlight=False, soft_wrap=True)


def cmd_gate(args) -> int:
    if args.command == "check":
        console.print("`robustkit check` is now `robustkit gate`; the old name will be removed.", highlight=False)
    suite = suite_with_overrides(args)
    thresholds, confidence, tolerance, allowed = _settings(args, suite.gate)
    suites = [*suite.attack_suites, *suite.certification_suites, *suite.verification_suites, *suite.corruption_suites]
    check_thresholds_fit(thresholds, suites, [model_label(m) for m in suite.models])
    baseline_dir = Path("reports") / suite.name
    baseline, baseline_path = _baseline(args, suite.gate, baseline_dir, [model_label(m) for m in suite.models])
    out_dir = Path(args.out) if args.out else Path("reports") / f"{suite.name}-gate"
    run = run_with_progress(suite, out_dir, args)
    write_report(run.results, out_dir, run.summary)
    conditions = evaluate_gate(run.results, baseline, thresholds, confidence, tolerance, allowed)
    junit = Path(args.junit) if args.junit else out_dir / "junit.xml"
    summary = Path(args.summary) if args.summary else out_dir / "summary.md"
    atomic_write(junit, junit_xml(conditions, suite.name))
    atomic_write(summary, markdown_summary(conditions, run.results, baseline_path))
    if args.update_baseline:
        target = Path(args.baseline).parent if args.baseline else baseline_dir
        write_report(run.results, target, run.summary)
        console.print(f"baseline written to {target / 'results.json'}")
    _print_verdict(conditions, args.quiet, (junit, summary))
    return 1 if any(not c.passed for c in conditions) else 0

"""The ``robustkit`` command line.

Example:
    $ robustkit bench                       # the default suite, report in reports/default/
    $ robustkit bench --model digits-cnn --attack linf --eps 0.05 0.1
    $ robustkit gate --min-robust-accuracy linf:0.1=0.5
    $ robustkit attack --model digits-cnn --eps 0.1 --out adv.npz
    $ robustkit certify --model digits-cnn --sigma 0.25 --n 10000
    $ robustkit verify net.onnx prop.vnnlib --timeout 120
    $ robustkit models
    $ robustkit suites
    $ robustkit report reports/default/results.json
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence

from rich.markup import escape

import robustkit
from robustkit._startup import startup_messages
from robustkit.cli.certify_command import cmd_certify
from robustkit.cli.commands import cmd_attack, cmd_bench, cmd_models, cmd_report, cmd_suites
from robustkit.cli.gate_command import cmd_gate
from robustkit.cli.parser import build_parser
from robustkit.cli.running import console
from robustkit.cli.verify_command import cmd_verify
from robustkit.errors import RobustkitError, RobustkitWarning

COMMANDS = {
    "bench": cmd_bench,
    "gate": cmd_gate,
    "check": cmd_gate,
    "attack": cmd_attack,
    "certify": cmd_certify,
    "verify": cmd_verify,
    "models": cmd_models,
    "suites": cmd_suites,
    "report": cmd_report,
}


def _one_line_warnings(previous):
    """A ``warnings.showwarning`` that prints robustkit's own warnings as one line, others as before."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, RobustkitWarning):
            console.print(f"[yellow]robustkit: warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
        else:
            previous(message, category, filename, lineno, file, line)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``robustkit`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        sys.stderr.write(startup_messages())
        os.environ["ROBUSTKIT_VERBOSE"] = "1"  # later native messages (training a zoo model) go straight through
    else:  # TensorFlow's Python-side notices (retracing, deprecations) are for developers, not for a run
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if args.version:
        print(f"robustkit {robustkit.__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warnings(shown)
    try:
        with warnings.catch_warnings():
            # robustkit's warnings are part of what the command says (PYTHONWARNINGS=ignore silences Python's)
            warnings.filterwarnings("default", category=RobustkitWarning)
            return COMMANDS[args.command](args)
    except RobustkitError as err:
        # escape(): messages quote file contents such as [lower, upper] and [[attack]], not markup
        console.print(f"[bold red]robustkit: error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted: completed cells are saved; run the same command again to resume")
        return 130
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())

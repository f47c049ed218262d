"""The ``robustkit`` command line's arguments.

Example:
    >>> build_parser().parse_args(["attack", "--model", "digits-cnn", "--eps", "0.1", "--out", "a.npz"]).attack
    'pgd'
"""

from __future__ import annotations

import argparse
import math
import re
import sys

from robustkit.attacks import ATTACKS
from robustkit.attacks.ensemble import VERSIONS
from robustkit.cli.certify_command import add_certify_options
from robustkit.cli.verify_command import add_verify_options
from robustkit.constraints import parse_eps_scale, parse_features
from robustkit.errors import ConfigError
from robustkit.losses import LOSSES
from robustkit.norms import NORMS
from robustkit.ranges import Eps, parse_eps
from robustkit.sources.classes import parse_class_names


class _Renamed(argparse.Action):
    """An option under its old name: it still works, and says once on stderr what it is called now."""

    def __init__(self, *args, new: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"robustkit: {option_string} of `robustkit {parser.prog.split()[-1]}` is now {self.new} "
            f"(in `robustkit bench`, --attack names attack suites); the old name goes in the next release.",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def _integer(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _eps(text: str) -> Eps:
    """A number in input units, or a fraction of the input range such as 8/255."""
    try:
        return parse_eps(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _class_names(text: str) -> list[str]:
    try:
        return parse_class_names(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


CLASS_NAMES_HELP = (
    "the model's class names in its order, comma-separated (e.g. circle,square,triangle); an image folder's or "
    "a table's labels are renumbered to it by name (default: sorted, as Keras numbers a folder's classes)"
)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _features(text: str) -> tuple[str, ...]:
    try:
        return parse_features(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _eps_scale(text: str) -> str | tuple[float, ...]:
    try:
        return parse_eps_scale(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_feature_options(parser: argparse.ArgumentParser) -> None:
    """The tabular threat model: features by column name (tables) or flat index (anything else)."""
    parser.add_argument(
        "--eps-scale",
        type=_eps_scale,
        metavar="std|range|S,S,...",
        help="per-feature eps: feature i moves by eps times its standard deviation, its range, or a given scale",
    )
    parser.add_argument("--immutable", type=_features, metavar="F,F,...", help="features that never move")
    parser.add_argument(
        "--integer", type=_features, metavar="F,F,...", help="features whose adversarial values are integers"
    )
    parser.add_argument(
        "--one-hot",
        type=_features,
        action="append",
        metavar="F,F,...",
        help="features that one-hot encode a category and stay one category (repeat for each group)",
    )


def _run_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text):
        raise argparse.ArgumentTypeError(
            f"a run's name becomes a folder name: letters, digits, '.', '_' and '-', got {text!r}"
        )
    return text


OUTPUT_HELP = "the output that holds the logits, for models with several outputs (its name)"
BOUNDS_HELP = "the range the model reads, e.g. 0 255 (default: the attack suite's, else the data's, else 0 1)"


def _add_run_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument(
        "suite",
        nargs="?",
        default="default",
        help="benchmark suite: a name (see `robustkit suites`) or a .toml path (default: default)",
    )
    parser.add_argument(
        "--model",
        nargs="+",
        help="models instead of the suite's (zoo names, .keras, SavedModel, keras-app:NAME, module:function)",
    )
    parser.add_argument("--output", metavar="NAME", help=OUTPUT_HELP)
    parser.add_argument(
        "--data",
        help="data instead of the suite's: digits, a .npz file, an image folder, a .csv/.parquet table "
        "(table.csv?label=COLUMN), module:function (a tf.data.Dataset), tfds:NAME?data_dir=PATH, keras:mnist",
    )
    parser.add_argument(
        "--attack",
        nargs="+",
        help="evaluation suites instead of the suite's: attack or certification suites (names in attacks/ or paths)",
    )
    parser.add_argument(
        "--eps",
        nargs="+",
        type=_eps,
        help="epsilon grid instead of each attack suite's: numbers or fractions of the range, 8/255",
    )
    parser.add_argument("--bounds", nargs=2, type=_number, metavar=("LOW", "HIGH"), help=BOUNDS_HELP)
    parser.add_argument("--class-names", type=_class_names, metavar="NAME,NAME,...", help=CLASS_NAMES_HELP)
    _add_feature_options(parser)
    parser.add_argument("--limit", type=_integer(1), help="use only the first N test examples")
    parser.add_argument(
        "--mce-baseline",
        metavar="MODEL",
        help="the model (one of the run's) whose corruption errors mCE divides by, instead of the suite's",
    )
    parser.add_argument(
        "--shard-size",
        type=_integer(1),
        help="examples in memory at a time (default 65536); larger data goes in shards",
    )
    parser.add_argument("--out", help=f"report folder (default: {default_out})")
    parser.add_argument(
        "--name",
        type=_run_name,
        help="the run's name, its report folder's and its title (default: the suite's; with --model, the model's)",
    )
    parser.add_argument("--seed", type=_integer(0), help="seed instead of the suite's")
    parser.add_argument("--fresh", action="store_true", help="recompute every cell instead of resuming")
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="compute the cells as Ray tasks: on a local cluster, or the cluster at ADDRESS (robustkit[ray])",
    )
    parser.add_argument("--ray-threads", type=_integer(1), help="TensorFlow threads per Ray task (default: Ray's)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")


def _add_gate_options(gate: argparse.ArgumentParser) -> None:
    _add_run_options(gate, "reports/<suite>-gate")
    gate.add_argument("--baseline", help="baseline results.json (default: reports/<suite>/results.json, if present)")
    gate.add_argument("--no-baseline", action="store_true", help="do not compare with a baseline")
    gate.add_argument(
        "--min-robust-accuracy",
        nargs="+",
        default=[],
        metavar="[MODEL/]ATTACK_SUITE:EPS=MIN",
        help="thresholds on worst-case robust accuracy, e.g. linf:0.1=0.80",
    )
    gate.add_argument(
        "--min-certified-accuracy",
        nargs="+",
        default=[],
        metavar="[MODEL/]SUITE:RADIUS=MIN",
        help="thresholds on certified accuracy (the best sigma of a certification suite), e.g. l2:0.5=0.60",
    )
    gate.add_argument(
        "--min-verified-accuracy",
        nargs="+",
        default=[],
        metavar="[MODEL/]SUITE:EPS=MIN",
        help="thresholds on verified accuracy (proved robust, by a verification suite), e.g. linf:0.05=0.80",
    )
    gate.add_argument(
        "--min-corruption-accuracy",
        nargs="+",
        default=[],
        metavar="[MODEL/]CORRUPTION[:SEVERITY]=MIN",
        help="thresholds on accuracy under corruptions, e.g. gaussian_noise:3=0.80 or mean=0.75 (the mean "
        "corruption accuracy)",
    )
    gate.add_argument(
        "--tolerance", type=float, help="fail on any drop larger than this (instead of the statistical test)"
    )
    gate.add_argument("--confidence", type=float, help="confidence of the regression test (default 0.95)")
    gate.add_argument(
        "--allow-check", nargs="+", default=[], metavar="NAME", help="trust checks whose failure is allowed"
    )
    gate.add_argument("--junit", help="JUnit XML path (default: <out>/junit.xml)")
    gate.add_argument("--summary", help="Markdown summary path (default: <out>/summary.md)")
    gate.add_argument("--update-baseline", action="store_true", help="write this run's report as the new baseline")


def _add_attack_options(attack: argparse.ArgumentParser) -> None:
    attack.add_argument("--model", required=True, help="zoo name, .keras file, SavedModel folder or module:function")
    attack.add_argument("--output", metavar="NAME", help=OUTPUT_HELP)
    attack.add_argument(
        "--data", default="digits", help="as for bench: digits, .npz, image folder, table, module:function, tfds:NAME"
    )
    attack.add_argument("--class-names", type=_class_names, metavar="NAME,NAME,...", help=CLASS_NAMES_HELP)
    attack.add_argument(
        "--split", choices=["test", "train"], default="test", help="which split of the data (default: test)"
    )
    attack.add_argument(
        "--type",
        dest="attack",
        choices=list(ATTACKS),
        default="pgd",
        help="the attack (default pgd); autoattack: AutoAttack's ensemble (--ensemble standard, fast or rand)",
    )
    attack.add_argument(  # its old name, which bench gives to attack suites: kept for one release
        "--attack",
        dest="attack",
        choices=list(ATTACKS),
        action=_Renamed,
        new="--type",
        help=argparse.SUPPRESS,
    )
    attack.add_argument(
        "--ensemble",
        choices=list(VERSIONS),
        help="autoattack's version: standard (the default: APGD-CE, APGD-T, FAB-T, Square), fast (APGD-CE, "
        "APGD-T), rand (EoT)",
    )
    attack.add_argument(
        "--straight-through", action="store_true", help="BPDA: rounding and integer casts in the model pass gradients"
    )
    attack.add_argument("--norm", choices=list(NORMS), default="linf")
    attack.add_argument(
        "--eps", type=_eps, required=True, help="a number in input units, or a fraction of the range: 8/255"
    )
    attack.add_argument("--bounds", nargs=2, type=_number, metavar=("LOW", "HIGH"), help=BOUNDS_HELP)
    _add_feature_options(attack)
    attack.add_argument(
        "--steps",
        type=_integer(1),
        help="steps (queries for score-based attacks); defaults: "
        + ", ".join(f"{k} {a.default_budget()}" for k, a in ATTACKS.items() if a.budget is not None),
    )
    attack.add_argument("--step-size", type=_number)
    attack.add_argument("--restarts", type=_integer(1), help="random restarts (pgd, apgd; default 1)")
    attack.add_argument("--loss", choices=list(LOSSES), help="ce (default), margin (square's default) or dlr")
    attack.add_argument("--seed", type=_integer(0), default=0)
    attack.add_argument(
        "--keep-originals", action="store_true", help="keep every clean example and add the adversarial ones"
    )
    attack.add_argument(
        "--mix", type=float, default=1.0, help="fraction of examples whose adversarial version is used (default 1)"
    )
    attack.add_argument("--out", required=True, help=f"output .npz path; it holds {ATTACK_FILE}")
    attack.add_argument("--quiet", "-q", action="store_true")


ATTACK_FILE = (
    "x (the original examples), x_adv (their adversarial versions, row for row), y (the labels), clean_pred and "
    "adv_pred (the model's classes before and after), success (the attack broke the example), norms (of x_adv - x), "
    "and x_train, y_train, is_adversarial: a training set of --mix adversarial rows, added to the originals with "
    "--keep-originals, else in their place"
)
# argparse reads "-0.1" as a value but "-8/255" as an unknown option; both are (negative) eps values.
NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+(\.\d+)?/\d+(\.\d+)?$")


def _with_parents(common: argparse.ArgumentParser):
    """A subparser class that gives every command the options of ``common``."""

    class CommandParser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)
            self._negative_number_matcher = NEGATIVE_NUMBER

    return CommandParser


VERBOSE_HELP = "also show TensorFlow's start-up messages (oneDNN, CUDA, CPU features)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robustkit", description="Adversarial-robustness testing for Keras models.")
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    parser.add_argument("--verbose", "-v", action="store_true", help=VERBOSE_HELP)
    # Every command takes --verbose too; SUPPRESS keeps the top-level value when a command omits it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", parser_class=_with_parents(common))
    _add_run_options(sub.add_parser("bench", help="run a benchmark suite and write reports"), "reports/<suite>")
    _add_gate_options(sub.add_parser("gate", help="the robustness gate: run a suite, compare, exit 1 on failure"))
    _add_gate_options(sub.add_parser("check", help="former name of `gate` (deprecated)"))
    _add_attack_options(sub.add_parser("attack", help="write adversarial examples of a data set to .npz"))
    certify = sub.add_parser("certify", help="certified accuracy by randomized smoothing (L2 radii)")
    add_certify_options(certify, _number, _integer, _class_names)
    add_verify_options(sub.add_parser("verify", help="decide VNN-LIB properties of ONNX or Keras models"), _number)
    sub.add_parser("models", help="list the model zoo")
    sub.add_parser("suites", help="list the benchmark and attack suites and where each comes from")
    report = sub.add_parser("report", help="re-render the reports of a results.json")
    report.add_argument("results", help="path to results.json")
    report.add_argument("--out", help="output folder (default: the folder of results.json)")
    return parser

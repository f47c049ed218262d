"""``robustkit certify``: randomized smoothing's certified accuracy of a model, with a progress bar and ETA.

Example:
    $ robustkit certify --model digits-cnn --sigma 0.25 0.5 --n 10000 --limit 100 --out certified.npz
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from robustkit.certify import SmoothingResult, certify
from robustkit.cli.running import console, out, progress_bar
from robustkit.errors import ConfigError, RobustkitWarning
from robustkit.files import atomic_path
from robustkit.inputs import validate_bounds
from robustkit.ranges import ensure_data_in_bounds
from robustkit.sources.classes import with_class_names
from robustkit.sources.data import load_data
from robustkit.sources.models import load_model, with_option

DEFAULT_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


def add_certify_options(parser: argparse.ArgumentParser, number, integer, class_names) -> None:
    """The options of ``robustkit certify`` (the parser's own converters for numbers and integers)."""
    parser.add_argument("--model", required=True, help="zoo name, .keras file, SavedModel folder or module:function")
    parser.add_argument("--output", metavar="NAME", help="the model output that holds the class scores")
    parser.add_argument("--data", default="digits", help="as for bench: digits, .npz, image folder, table, tfds:NAME")
    parser.add_argument("--class-names", type=class_names, metavar="NAME,NAME,...", help="the model's classes")
    parser.add_argument("--split", choices=["test", "train"], default="test", help="which split (default: test)")
    parser.add_argument("--limit", type=integer(1), help="certify only the first N examples")
    parser.add_argument(
        "--bounds", nargs=2, type=number, metavar=("LOW", "HIGH"), help="the inputs' range (default: the data's)"
    )
    parser.add_argument(
        "--sigma", type=number, nargs="+", default=[0.25], help="noise standard deviations, input units (0.25)"
    )
    parser.add_argument("--n0", type=integer(1), default=100, help="samples that choose the top class (100)")
    parser.add_argument("--n", type=integer(1), default=100_000, help="samples that bound its probability (100000)")
    parser.add_argument("--alpha", type=number, default=0.001, help="chance that a certificate is wrong (0.001)")
    parser.add_argument("--radius", type=number, nargs="+", default=list(DEFAULT_RADII), help="radii of the table")
    parser.add_argument("--norm", choices=["l2", "linf"], default="l2", help="the table's norm (linf: l2 / sqrt(d))")
    parser.add_argument("--batch-size", type=integer(1), default=1000, help="noisy inputs per forward pass (1000)")
    parser.add_argument("--seed", type=integer(0), default=0)
    parser.add_argument("--out", help="an .npz with each example's prediction, radius and counts, per sigma")
    parser.add_argument("--quiet", "-q", action="store_true")


def _certify_all(model, x, y, args) -> dict[float, SmoothingResult]:
    """Every sigma, under one progress bar (two phases per sigma: selection and estimation)."""
    results: dict[float, SmoothingResult] = {}
    settings = dict(n0=args.n0, n=args.n, alpha=args.alpha, seed=args.seed, batch_size=args.batch_size)
    if args.quiet:
        return {s: certify(model, x, y, s, **settings) for s in args.sigma}
    with progress_bar() as progress:
        per_sigma = len(y) * (args.n0 + args.n)
        task = progress.add_task("certify", total=len(args.sigma) * per_sigma)
        for number, sigma in enumerate(args.sigma):

            def update(done: int, _total: int, base: int = number * per_sigma, sigma: float = sigma) -> None:
                progress.update(task, completed=base + done, description=f"sigma {sigma:g}")

            results[sigma] = certify(model, x, y, sigma, **settings, progress=update)
    return results


def _table(results: dict[float, SmoothingResult], y: np.ndarray, radii: list[float], norm: str) -> Table:
    table = Table(
        title=f"certified accuracy (%) against {norm.upper()} radius; randomized smoothing",
        caption="smoothed: the smoothed classifier's accuracy (an abstention counts as wrong), not the model's own",
    )
    for column in ("sigma", "smoothed", "abstain", *(f"r={r:g}" for r in radii)):
        table.add_column(column, justify="right")
    for sigma, result in results.items():
        cells = [f"{100 * result.certified_accuracy(y, r, norm):.1f}" for r in radii]
        smoothed = f"{100 * np.mean(result.prediction == y):.1f}"
        table.add_row(f"{sigma:g}", smoothed, f"{100 * np.mean(result.abstained):.1f}", *cells)
    return table


def _warn_of_wide_noise(sigmas: list[float], bounds: Any) -> None:
    """Noise wider than the inputs' whole range drowns them: nearly every example abstains. Say so first."""
    lower, upper = validate_bounds(bounds)
    width = float(np.max(upper - lower))
    for sigma in sigmas:
        if sigma > width:
            warnings.warn(
                f"sigma {sigma:g} is larger than the inputs' whole range ({width:g} wide): the noise drowns them, "
                "so nearly every example will abstain. sigma is in input units: for [0, 1] data take 0.12 to 1, "
                "for [0, 255] data 30 to 255.",
                RobustkitWarning,
                stacklevel=2,
            )


def cmd_certify(args) -> int:
    if args.out and Path(args.out).suffix != ".npz":
        raise ConfigError(f"--out must end in .npz, got {args.out!r}.")
    data = with_class_names(load_data(args.data), args.class_names)
    x, y = (data.x_train, data.y_train) if args.split == "train" else (data.x_test, data.y_test)
    if x is None or y is None:
        raise ConfigError(f"The data {args.data!r} has no {args.split} split.")
    x, y = np.asarray(x[: args.limit], np.float32), np.asarray(y[: args.limit])
    if args.bounds and not args.bounds[0] < args.bounds[1]:
        raise ConfigError(f"--bounds needs LOW < HIGH, got {args.bounds[0]:g} {args.bounds[1]:g}.")
    bounds = validate_bounds(tuple(args.bounds) if args.bounds else data.bounds)
    ensure_data_in_bounds(x, bounds, f"The {args.split} data of {args.data!r}")
    _warn_of_wide_noise(args.sigma, bounds)
    model = load_model(with_option(args.model, "output", args.output) if args.output else args.model)
    start = time.perf_counter()
    results = _certify_all(model, x, y, args)
    if args.out:
        arrays: dict[str, Any] = {"y": y}
        for sigma, result in results.items():
            for field in ("prediction", "radius", "p_lower", "counts", "selection_counts"):
                arrays[f"sigma={sigma:g}/{field}"] = getattr(result, field)
        with atomic_path(Path(args.out)) as tmp:
            np.savez_compressed(tmp, **arrays)
    if not args.quiet:
        out.print(_table(results, y, args.radius, args.norm))
        dim = next(iter(results.values())).dimension
        console.print(
            f"{len(y)} examples, n0={args.n0}, n={args.n}, alpha={args.alpha:g} in {time.perf_counter() - start:.1f} s"
            + (
                f"; L-inf radii are L2 radii over sqrt({dim}) = {np.sqrt(dim):.1f} (loose)"
                if args.norm == "linf"
                else ""
            )
            + (f"; wrote {args.out}" if args.out else "")
        )
    return 0

"""``robustkit verify``: decide VNN-LIB properties of ONNX or Keras models, one or a benchmark's list.

Example:
    $ robustkit verify net.onnx prop.vnnlib --timeout 120 --results result.txt
    $ robustkit verify --instances benchmarks/mnistfc/instances.csv --out results.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from robustkit.cli.running import console
from robustkit.errors import ConfigError
from robustkit.files import atomic_path
from robustkit.verify.complete import Verdict, verify_specification
from robustkit.verify.specification import Specification
from robustkit.verify.vnnlib import read_vnnlib

RESULT_COLUMNS = ("benchmark", "onnx", "vnnlib", "prepare_time", "result", "run_time")


def add_verify_options(parser: argparse.ArgumentParser, number) -> None:
    parser.add_argument("model", nargs="?", help="an .onnx file, or a .keras file / SavedModel folder")
    parser.add_argument("property", nargs="?", help="a VNN-LIB file (its X_i in the model's input order)")
    parser.add_argument("--timeout", type=number, default=120.0, help="seconds per instance (default: 120)")
    parser.add_argument("--results", help="write the answer (and a counterexample) in the competition's format")
    parser.add_argument("--instances", help="a benchmark's instances.csv: onnx, vnnlib, timeout per row")
    parser.add_argument("--out", default="results.csv", help="with --instances: the results CSV (default: results.csv)")
    parser.add_argument("--seed", type=int, default=0, help="the attacks' seed (default: 0)")


def load_verifiable(path: str) -> tuple[Any, Any]:
    """The Keras model of a file and a function mapping flat VNN-LIB inputs to its input layout."""
    if str(path).endswith(".onnx"):
        from robustkit.sources.onnx_model import load_onnx

        loaded = load_onnx(path)
        return loaded.model, lambda flat: loaded.to_keras_inputs(flat[None])[0]
    from robustkit.sources.models import load_model

    model = load_model(path)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    return model, lambda flat: np.asarray(flat).reshape(shape)


def decide(model: Any, layout: Any, property_path: str, timeout: float, seed: int) -> tuple[Verdict | None, str]:
    """The answer to every box of a property: ``sat`` at the first counterexample, ``unsat`` when all are proved."""
    began = time.perf_counter()
    last = None
    for spec in read_vnnlib(property_path):
        box = Specification(layout(spec.lower), layout(spec.upper), spec.clauses)
        remaining = timeout - (time.perf_counter() - began)
        if remaining <= 0:
            return last, "timeout"
        last = verify_specification(model, box, time_limit=remaining, seed=seed)
        if last.status != "proved":
            return last, last.vnnlib_answer
    return last, "unsat"


def competition_text(answer: str, verdict: Verdict | None, flat_input: np.ndarray | None) -> str:
    """The result file: the answer, and for ``sat`` the counterexample's inputs and outputs."""
    if answer != "sat" or verdict is None or verdict.outputs is None or flat_input is None:
        return answer + "\n"
    lines = [f"(X_{i} {float(v)!r})" for i, v in enumerate(flat_input)]
    lines += [f"(Y_{j} {float(v)!r})" for j, v in enumerate(verdict.outputs)]
    return "sat\n(" + "\n ".join(lines) + ")\n"


def _flat_onnx_order(model_path: str, witness: np.ndarray) -> np.ndarray:
    """A counterexample back in the property's X_i order (ONNX images are channels-first)."""
    return (
        witness.transpose(2, 0, 1).reshape(-1)
        if model_path.endswith(".onnx") and witness.ndim == 3
        else witness.reshape(-1)
    )


def _one(args: argparse.Namespace) -> int:
    model, layout = load_verifiable(args.model)
    verdict, answer = decide(model, layout, args.property, float(args.timeout), args.seed)
    stage = f" ({verdict.stage}, {verdict.seconds:.1f} s, {verdict.domains} subdomains)" if verdict else ""
    print(f"{answer}{stage}", flush=True)  # the answer on standard output, for scripts
    if args.results:
        witness = verdict.witness if verdict is not None else None
        flat = _flat_onnx_order(args.model, witness) if witness is not None else None
        with atomic_path(args.results) as path:
            Path(path).write_text(competition_text(answer, verdict, flat))
    return 0


def _instances(args: argparse.Namespace) -> int:
    listing = Path(args.instances)
    if not listing.is_file():
        raise ConfigError(f"No instances file at {args.instances!r}.")
    rows = [row for row in csv.reader(listing.read_text().splitlines()) if row]
    folder, benchmark = listing.parent, listing.parent.name
    done = []
    loaded: dict[str, tuple[Any, Any]] = {}  # each network is read (and its bounds compiled) once
    for onnx_name, property_name, *rest in rows:
        timeout = float(rest[0]) if rest else float(args.timeout)
        began = time.perf_counter()
        if onnx_name not in loaded:
            loaded[onnx_name] = load_verifiable(os.fspath(folder / onnx_name))
        model, layout = loaded[onnx_name]
        prepared = time.perf_counter() - began
        _, answer = decide(model, layout, os.fspath(folder / property_name), timeout, args.seed)
        done.append(
            (benchmark, onnx_name, property_name, f"{prepared:.3f}", answer, f"{time.perf_counter() - began:.3f}")
        )
        console.print(f"{onnx_name} {property_name}: {answer} in {float(done[-1][-1]):.1f} s", highlight=False)
        with atomic_path(args.out) as path:  # rewritten after every instance: nothing is lost if stopped
            with open(path, "w", newline="") as handle:
                csv.writer(handle).writerows([RESULT_COLUMNS, *done])
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if args.instances:
        return _instances(args)
    if not args.model or not args.property:
        raise ConfigError("Give a model and a VNN-LIB property (robustkit verify MODEL PROPERTY), or --instances CSV.")
    return _one(args)

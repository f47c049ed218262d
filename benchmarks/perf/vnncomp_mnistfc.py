"""VNN-COMP 2021's ``mnistfc`` benchmark: robustkit's complete verifier against the competition's tools.

Run: ``python benchmarks/perf/vnncomp_mnistfc.py --benchmark PATH --timeout 120 [--out results.csv]``.

PATH is the ``benchmarks/mnistfc`` folder of the public ``stanleybak/vnncomp2021`` repository (three ONNX
ReLU networks 784-256xk-10, k = 2, 4, 6, and 30 VNN-LIB properties: 15 MNIST test images at eps 0.03
and 0.05; 90 instances). Its ``mnistfc_instances.csv`` gives 120 s to each instance of the 256x2 network
and 300 s to those of the others; without ``--timeout`` each instance gets its own, and ``--timeout 120``
gives every instance 120 s (stricter than the competition on two networks of three). Each instance goes
through the same loaders as ``robustkit verify``:
the ONNX file into a Keras model, the VNN-LIB file into specifications, then
:func:`~robustkit.verify.complete.verify_specification` within the instance's time limit. The answers
are compared with every tool's published answer (``published/vnncomp2021_mnistfc_answers.csv``: the
``result`` column of ``stanleybak/vnncomp2021_results``' ``results_csv/``, "holds"/"violated" written
as unsat/sat, "-" where a tool gave none). Results are written after every instance (``--out``), and
an instance already in that file is not run again. Each network is loaded once and serves all its
instances, so its compilation (about 10 s) is paid once, not per instance.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PUBLISHED = Path(__file__).with_name("published") / "vnncomp2021_mnistfc_answers.csv"
WINNER = "a-b-CROWN"


def published() -> dict[tuple[str, str], dict[str, str]]:
    with open(PUBLISHED, newline="") as handle:
        return {(row["onnx"], row["vnnlib"]): row for row in csv.DictReader(handle)}


def run(folder: Path, timeout: float | None, out: Path, limit: int | None) -> list[dict]:
    from robustkit.cli.verify_command import decide, load_verifiable

    done = {}
    if out.exists():
        with open(out, newline="") as handle:
            done = {(r["onnx"], r["vnnlib"]): r for r in csv.DictReader(handle)}
    rows = [r for r in csv.reader((folder / "mnistfc_instances.csv").read_text().splitlines()) if r][:limit]
    networks: dict = {}  # each network is loaded once: its compiled bounds serve all its instances
    for onnx_name, property_name, seconds in rows:
        if (onnx_name, property_name) in done:
            continue
        began = time.perf_counter()
        if onnx_name not in networks:
            networks[onnx_name] = load_verifiable(os.fspath(folder / onnx_name))
        model, layout = networks[onnx_name]
        verdict, answer = decide(model, layout, os.fspath(folder / property_name), timeout or float(seconds), 0)
        took = time.perf_counter() - began
        stage = verdict.stage if verdict else ""
        done[(onnx_name, property_name)] = {
            "onnx": onnx_name,
            "vnnlib": property_name,
            "result": answer,
            "seconds": f"{took:.2f}",
            "stage": stage,
            "domains": str(verdict.domains if verdict else 0),
        }
        print(f"{onnx_name} {property_name}: {answer} in {took:.1f} s ({stage})", flush=True)
        with open(out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["onnx", "vnnlib", "result", "seconds", "stage", "domains"])
            writer.writeheader()
            writer.writerows(done.values())
    return list(done.values())


def summary(results: list[dict], limit: float) -> None:
    answers = published()
    tools = [t for t in next(iter(answers.values())) if t not in ("onnx", "vnnlib", f"{WINNER} seconds")]
    late = [r for r in results if r["result"] in ("sat", "unsat") and float(r["seconds"]) > limit]
    solved = [r for r in results if r["result"] in ("sat", "unsat") and float(r["seconds"]) <= limit]
    if late:  # answered, but after the instance's time: the competition counts these as time-outs
        print(
            f"{len(late)} answers came after {limit:g} s and are not counted: "
            + ", ".join(f"{r['onnx']} {r['vnnlib']} ({float(r['seconds']):.0f} s)" for r in late)
        )
    print(
        f"\nsolved {len(solved)} of {len(results)}: {sum(r['result'] == 'unsat' for r in solved)} proved (unsat), "
        f"{sum(r['result'] == 'sat' for r in solved)} counterexamples (sat)"
    )
    for net in sorted({r["onnx"] for r in results}):
        mine = [r for r in results if r["onnx"] == net]
        print(f"  {net}: {sum(r in solved for r in mine)} of {len(mine)}")
    print("\ndisagreements with each tool's published answers (instance: ours vs theirs):")
    for tool in tools:
        clashes = [
            (r["onnx"], r["vnnlib"], r["result"], answers[(r["onnx"], r["vnnlib"])][tool])
            for r in solved + late
            if answers[(r["onnx"], r["vnnlib"])][tool] in ("sat", "unsat")
            and answers[(r["onnx"], r["vnnlib"])][tool] != r["result"]
        ]
        print(f"  {tool}: {len(clashes)}" + "".join(f"\n    {c}" for c in clashes[:5]))
    ours = statistics.median(float(r["seconds"]) for r in solved) if solved else float("nan")
    theirs = [float(a[f"{WINNER} seconds"]) for a in answers.values() if a[WINNER] in ("sat", "unsat")]
    print(
        f"\nmedian seconds per solved instance: robustkit {ours:.1f} (2 CPU cores), "
        f"{WINNER} {statistics.median(theirs):.1f} (2021, its GPU machine, start-up included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", required=True, type=Path, help="the benchmarks/mnistfc folder of vnncomp2021")
    parser.add_argument("--timeout", type=float, help="seconds per instance (default: the instance's own)")
    parser.add_argument("--out", type=Path, default=Path("mnistfc_results.csv"))
    parser.add_argument("--limit", type=int, help="only the first N instances")
    args = parser.parse_args()
    summary(run(args.benchmark, args.timeout, args.out, args.limit), args.timeout or 300.0)


if __name__ == "__main__":
    main()

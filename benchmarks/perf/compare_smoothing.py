"""Randomized smoothing in robustkit and in ART (the ``compare`` extra): certified accuracy, wall time, peak memory.

Run: ``python benchmarks/perf/compare_smoothing.py [--n N ...] [--examples K] [--models ...]``.

Each certification runs in a child process of its own, so that its peak resident memory
(``wait4``'s ``ru_maxrss``) is its own: robustkit's ``certify`` (noise drawn and counted on device
in compiled batches) and ART's ``TensorFlowV2RandomizedSmoothing.certify`` (each example's n noisy
copies tiled in NumPy, then predicted batch by batch). Both get the same model, examples, sigma,
n0 = 100 selection samples, alpha = 0.001 and batch of 1000 noisy inputs. The noise differs (ART
draws from NumPy's global generator), so certified accuracies agree up to sampling error only.
Models: the zoo's noise-trained digits CNN on the first test digits, and a 32x32x3 CNN (random
weights, uniform inputs: only time and memory mean something there).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIGMA, N0, ALPHA, BATCH = 0.25, 100, 0.001, 1000
RADII = (0.0, 0.25, 0.5, 0.75)


def _model_and_data(name: str, examples: int):
    import numpy as np

    if name == "digits-cnn-noise":
        from robustkit.sources.data import load_digits_split
        from robustkit.sources.zoo import load_zoo_model

        data = load_digits_split()
        return load_zoo_model(name), data.x_test[:examples].astype("float32"), data.y_test[:examples]
    from pgd_speed import cnn

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(examples, 32, 32, 3)).astype("float32")
    return cnn((32, 32, 3)), x, rng.integers(0, 10, examples)


def child(tool: str, name: str, n: int, examples: int) -> dict:
    """Certify in this process; what it found and how long it took (memory is read by the parent)."""
    import numpy as np

    model, x, y = _model_and_data(name, examples)
    started = time.perf_counter()
    if tool == "robustkit":
        from robustkit.certify import certify

        result = certify(model, x, y, sigma=SIGMA, n0=N0, n=n, alpha=ALPHA, seed=0, batch_size=BATCH)
        prediction, radius = result.prediction, result.radius
    else:
        from art.estimators.certification.randomized_smoothing import TensorFlowV2RandomizedSmoothing

        smoothed = TensorFlowV2RandomizedSmoothing(
            model, nb_classes=10, input_shape=x.shape[1:], clip_values=(0.0, 1.0), sample_size=N0, scale=SIGMA,
            alpha=ALPHA,
        )  # fmt: skip
        prediction, radius = smoothed.certify(x, n=n, batch_size=BATCH)
    seconds = time.perf_counter() - started
    certified = {f"{r:g}": float(np.mean((prediction == y) & (radius >= r))) for r in RADII}
    return {"seconds": seconds, "certified": certified, "abstain": float(np.mean(prediction == -1))}


def measure(tool: str, name: str, n: int, examples: int) -> dict:
    command = [sys.executable, __file__, "--child", tool, "--models", name, "--n", str(n), "--examples", str(examples)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(__file__))
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        why = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        return {"error": f"failed ({why}) after {usage.ru_maxrss / 1024:.0f} MiB"}
    found = json.loads(output.strip().splitlines()[-1])
    return {**found, "peak_mib": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--models", nargs="+", default=["digits-cnn-noise", "cnn-32x32x3"])
    parser.add_argument("--tools", nargs="+", default=["robustkit", "art"])
    parser.add_argument("--child", choices=["robustkit", "art"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.models[0], args.n[0], args.examples)))
        return
    print(f"sigma {SIGMA}, n0 {N0}, alpha {ALPHA}, batch {BATCH}, {args.examples} examples")
    print("| model | n | tool | " + " | ".join(f"r = {r:g}" for r in RADII) + " | abstain | wall | peak memory |")
    print("|---" * (len(RADII) + 6) + "|")
    for name in args.models:
        for n in args.n:
            for tool in args.tools:
                found = measure(tool, name, n, args.examples)
                if "error" in found:
                    print(f"| {name} | {n:,} | {tool} | {found['error']} |")
                    continue
                cells = " | ".join(f"{100 * found['certified'][f'{r:g}']:.1f}" for r in RADII)
                print(
                    f"| {name} | {n:,} | {tool} | {cells} | {100 * found['abstain']:.1f} | {found['seconds']:.1f} s | "
                    f"{found['peak_mib']:.0f} MiB |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

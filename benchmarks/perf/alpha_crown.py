"""alpha-CROWN against CROWN on the zoo's three digits models: how many margins it tightens, by how much, and
what it costs.

Run: ``python benchmarks/perf/alpha_crown.py [--examples 100] [--eps 0.05 0.1] [--rounds 3]``.

For the first test digits, every margin ``logit[y] - logit[j]`` is bounded over the L-inf ball within
[0, 1] by ``margin_bounds(method="crown")`` and ``method="alpha-crown"`` (the default settings: 20 Adam
steps, learning rate 0.1, intermediate bounds optimized where they fit). "tightened" counts margins
whose alpha-CROWN bound exceeds CROWN's by more than 1e-5 (it is never below: it starts at CROWN's
slopes and keeps the best). Time is per example, both methods timed in the same process, rounds
interleaved, after one warm-up call each (compilation excluded); the ratio is the median of the
rounds' ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
MODELS = ("digits-mlp", "digits-cnn", "digits-cnn-ibp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import numpy as np

    from robustkit.sources.data import load_digits_split
    from robustkit.sources.zoo import load_zoo_model
    from robustkit.verify import margin_bounds

    data = load_digits_split()
    x, y = data.x_test[: args.examples].astype("float32"), data.y_test[: args.examples]
    print(
        "| model | eps | margins tightened | mean / median / max gain | verified CROWN -> alpha "
        "| s per example CROWN | alpha / CROWN time |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in MODELS:
        model = load_zoo_model(name)
        for eps in args.eps:
            margin_bounds(model, x[:2], y[:2], eps, method="crown")  # warm-up: compile both
            margin_bounds(model, x[:2], y[:2], eps, method="alpha-crown")
            times: dict[str, list[float]] = {"crown": [], "alpha-crown": []}
            found = {}
            for _ in range(args.rounds):
                for method in ("crown", "alpha-crown"):
                    began = time.perf_counter()
                    found[method] = margin_bounds(model, x, y, eps, method=method)
                    times[method].append(time.perf_counter() - began)
            crown, alpha = found["crown"], found["alpha-crown"]
            finite = np.isfinite(crown.lower)
            gain = (alpha.lower - crown.lower)[finite]
            ratio = statistics.median(a / c for a, c in zip(times["alpha-crown"], times["crown"]))
            print(
                f"| {name} | {eps:g} | {np.mean(gain > 1e-5):.1%} | {gain.mean():.3f} / {np.median(gain):.3f} / "
                f"{gain.max():.3f} | {crown.verified.sum()} -> {alpha.verified.sum()} of {len(x)} | "
                f"{statistics.median(times['crown']) / len(x):.4f} | {ratio:.1f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()

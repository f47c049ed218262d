"""Verification against its limits: interval bounds against forward passes, CROWN against an attack suite.

Run: ``python benchmarks/perf/verify_speed.py [--examples N] [--rounds R] [--eps E]``.

On the zoo's digits CNN and N test digits (default 360): the limit of interval bound propagation
is a compiled forward pass of the model on the same examples, timed in interleaved rounds (the
median of the per-round ratios is printed) against the compiled interval margins alone
(``ibp-compiled``) and against ``margin_bounds(method="ibp")`` with its input checks; CROWN's
margins (``margin_bounds(method="crown")``) and the standard AutoAttack ensemble at the same L-inf
eps are timed once each, after a warm-up. The digits test split has 360 examples.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from interleave import interleaved, print_table  # noqa: E402

from robustkit.attacks import AutoAttack  # noqa: E402
from robustkit.sources.data import load_digits_split  # noqa: E402
from robustkit.sources.zoo import load_zoo_model  # noqa: E402
from robustkit.tracing import compiled  # noqa: E402
from robustkit.verify import margin_bounds, network_of  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=360)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--eps", type=float, default=0.05)
    args = parser.parse_args()
    data = load_digits_split()
    x, y = data.x_test[: args.examples].astype("float32"), data.y_test[: args.examples]
    model = load_zoo_model("digits-cnn")
    forward = tf.function(lambda batch: model(batch, training=False), autograph=False)
    tensor = tf.constant(x)
    margin_bounds(model, x, y, args.eps, method="ibp")  # compiles the interval margins
    network = network_of(model)
    intervals_only = compiled(network, ("interval-margins",), lambda: None)  # the function just compiled
    lower, upper = tf.constant(np.clip(x - args.eps, 0, 1)), tf.constant(np.clip(x + args.eps, 0, 1))
    labels = tf.constant(y, tf.int32)
    runs = {
        "limit": lambda: forward(tensor).numpy(),
        "ibp-compiled": lambda: intervals_only(lower, upper, labels).numpy(),
        "ibp": lambda: margin_bounds(model, x, y, args.eps, method="ibp").lower,
    }
    rows = interleaved({name: (lambda run=run: run()) for name, run in runs.items()}, (), args.rounds)
    print_table(
        f"Interval bounds, {args.examples} digits, eps {args.eps}, tf {tf.__version__}",
        [("digits-cnn", args.examples, rows)],
    )
    margin_bounds(model, x[:8], y[:8], args.eps, method="crown")  # warm-up: trace and compile
    AutoAttack(eps=args.eps, norm="linf", version="standard", seed=0)(model, x[:8], y[:8])
    for name, run in (
        ("crown", lambda: margin_bounds(model, x, y, args.eps, method="crown")),
        (
            "autoattack",
            lambda: np.asarray(AutoAttack(eps=args.eps, norm="linf", version="standard", seed=0)(model, x, y)),
        ),
    ):
        start = time.perf_counter()
        run()
        print(f"{name}: {time.perf_counter() - start:.1f} s for {args.examples} digits")


if __name__ == "__main__":
    main()

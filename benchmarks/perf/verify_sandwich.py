"""Verified, exact and attacked accuracy of the zoo's digits models at L-inf eps, with the time per example.

Run: ``python benchmarks/perf/verify_sandwich.py [--examples N] [--models M ...] [--eps E ...] [--exact-time S]``.

For each model and eps: clean accuracy; accuracy verified by interval bounds (IBP), by linear bounds
(CROWN) and by the better of the two per margin; the exact verifier's verified, broken and unknown
shares (ReLU networks without max pooling; ``--exact-time`` seconds per example, default 10); and
robust accuracy under PGD-50 with 5 restarts. Verified <= exact <= attacked must hold at every eps
(a row that breaks it is printed with ``VIOLATED``). Also: the share of margins where IBP's bound is the tighter one.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from robustkit.attacks import PGD  # noqa: E402
from robustkit.errors import ModelError  # noqa: E402
from robustkit.sources.data import load_digits_split  # noqa: E402
from robustkit.sources.zoo import load_zoo_model  # noqa: E402
from robustkit.verify import exact_verify, margin_bounds  # noqa: E402


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _row(model, x, y, eps: float, exact: bool, exact_time: float) -> dict:
    correct = np.argmax(model(x).numpy(), axis=1) == y
    ibp, ibp_s = _timed(lambda: margin_bounds(model, x, y, eps, method="ibp"))
    best, best_s = _timed(lambda: margin_bounds(model, x, y, eps, method="best"))
    crown_ok = (best.crown.min(axis=1) > 1e-5 * best.scale) & correct
    attack = PGD(eps=eps, steps=50, step_size=eps / 8, restarts=5, seed=0)
    robust = np.argmax(model(attack(model, x, y)).numpy(), axis=1) == y
    finite = np.isfinite(best.lower)
    row = {
        "clean": correct.mean(),
        "ibp": (ibp.verified & correct).mean(),
        "crown": crown_ok.mean(),
        "best": (best.verified & correct).mean(),
        "pgd": robust.mean(),
        "ibp_ms": 1e3 * ibp_s / len(x),
        "best_ms": 1e3 * best_s / len(x),
        "ibp_tighter": float(np.mean(best.ibp[finite] > best.crown[finite])),
    }
    lower, upper = row["best"], row["pgd"]
    if exact:
        found, exact_s = _timed(lambda: exact_verify(model, x, y, eps, time_limit=exact_time))
        row.update(
            exact_verified=((found.status == "verified") & correct).mean(),
            exact_broken=((found.status == "broken") | ~correct).mean(),
            exact_ms=1e3 * exact_s / len(x),
        )
        lower = max(lower, row["exact_verified"])
        upper = min(upper, 1 - row["exact_broken"])
        row["violated"] = row["best"] > row["exact_verified"] + 1e-9 or row["exact_verified"] > 1 - row["exact_broken"]
    row["violated"] = row.get("violated", False) or lower > upper + 1e-9
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--models", nargs="+", default=["digits-mlp", "digits-cnn"])
    parser.add_argument("--eps", nargs="+", type=float, default=[0.01, 0.03, 0.05, 0.1])
    parser.add_argument("--exact-time", type=float, default=10.0, help="the exact verifier's seconds per example")
    args = parser.parse_args()
    data = load_digits_split()
    x, y = data.x_test[: args.examples].astype("float32"), data.y_test[: args.examples]
    print(f"{args.examples} test digits; accuracies in %, times in ms per example")
    for name in args.models:
        model = load_zoo_model(name)
        try:
            exact_verify(model, x[:1], y[:1], 0.0, time_limit=1.0)
            exact = True
        except ModelError:
            exact = False
        for eps in args.eps:
            r = _row(model, x, y, eps, exact, args.exact_time)
            exact_text = (
                f"exact {100 * r['exact_verified']:.0f}/{100 * r['exact_broken']:.0f} broken ({r['exact_ms']:.0f} ms)"
                if exact
                else "exact -"
            )
            print(
                f"{name} eps {eps}: clean {100 * r['clean']:.0f} ibp {100 * r['ibp']:.0f} ({r['ibp_ms']:.2f} ms) "
                f"crown {100 * r['crown']:.0f} best {100 * r['best']:.0f} ({r['best_ms']:.0f} ms) {exact_text} "
                f"pgd {100 * r['pgd']:.0f}; IBP tighter on {100 * r['ibp_tighter']:.1f}% of margins"
                + ("  VIOLATED" if r["violated"] else "")
            )


if __name__ == "__main__":
    main()

"""Timing shared by the speed benchmarks: every implementation once per round, rounds interleaved.

Each round times every implementation back to back, so the per-round ratio to the limit
cancels slow drifts of a shared machine; its median over rounds is the figure to quote.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved(runs: dict[str, Callable], args: tuple, rounds: int, limit: str = "limit") -> list[tuple]:
    """``(name, median seconds, median ratio to the limit)`` for each of ``runs`` called on ``args``."""
    for run in runs.values():  # warm-up: trace and compile everything once
        run(*args)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run(*args)
            times[name].append(time.perf_counter() - start)
    return [
        (name, statistics.median(t), statistics.median(a / b for a, b in zip(t, times[limit])))
        for name, t in times.items()
    ]


def print_table(title: str, rows_by_model: list[tuple[str, int, list[tuple]]]) -> None:
    print(title)
    print(f"{'model':<12} {'batch':>5}  {'implementation':<12} {'median s':>9} {'x limit':>8}")
    for label, batch, rows in rows_by_model:
        for name, median, ratio in rows:
            print(f"{label:<12} {batch:>5}  {name:<12} {median:>9.4f} {ratio:>7.3f}x")

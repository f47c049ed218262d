"""Peak memory of ``robustkit bench`` on 10k, 100k and 1M examples: bounded by the shard, not the data.

Run: ``python benchmarks/perf/stream_memory.py [--sizes 10000 100000 1000000]``.

Each size writes synthetic 8x8x1 inputs in [0, 1] to ``x.npy`` (read back a shard at a time) (labels: the
model's own predictions, so every example is attacked), then runs ``robustkit bench`` in a child
process (digits-mlp; FGSM and PGD-10 at eps 0.05 and 0.1; trust checks on) and reads that
process's peak resident memory from the kernel (``wait4``'s ``ru_maxrss``). The inputs alone take
256 bytes an example; what grows with the data is the per-example results (a few tens of bytes an
example), written to ``examples.npz``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SUITE = """name = "stream"
norm = "linf"
eps = [0.05, 0.1]

[[attack]]
type = "fgsm"

[[attack]]
name = "pgd-10"
type = "pgd"
steps = 10
rel_step_size = 0.25
"""


def write_data(folder: Path, n: int) -> None:
    """Synthetic inputs written a chunk at a time, labelled by the model itself."""
    from robustkit.evaluation.context import predict_labels
    from robustkit.sources.zoo import load_zoo_model

    model = load_zoo_model("digits-mlp")
    rng = np.random.default_rng(0)
    x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=(n, 8, 8, 1))
    y = np.empty(n, np.int64)
    for start in range(0, n, 65_536):
        stop = min(start + 65_536, n)
        x[start:stop] = rng.uniform(0, 1, (stop - start, 8, 8, 1)).astype(np.float32)
        y[start:stop] = predict_labels(model, np.asarray(x[start:stop]), 4096)
    x.flush()
    del x
    np.save(folder / "y.npy", y)


def measure(n: int, shard_size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        write_data(folder, n)
        (Path(tmp) / "stream.toml").write_text(SUITE)
        out = Path(tmp) / "report"
        command = [sys.executable, "-m", "robustkit", "bench", "--model", "digits-mlp", "--data", str(folder)]
        command += [
            "--attack",
            str(Path(tmp) / "stream.toml"),
            "--out",
            str(out),
            "-q",
            "--shard-size",
            str(shard_size),
        ]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(child.stderr.read().decode() if child.stderr else "bench failed")
        return {
            "n": n,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "seconds": seconds,
            "inputs_mb": (folder / "x.npy").stat().st_size / 2**20,
            "examples_npz_mb": (out / "examples.npz").stat().st_size / 2**20,
            "results_json_kb": (out / "results.json").stat().st_size / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--shard-size", type=int, default=65_536)
    args = parser.parse_args()
    header = ("examples", "peak RSS MB", "seconds", "inputs MB", "examples.npz MB", "results.json KB")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (10, 12, 8, 10, 16, 16))))
    for n in args.sizes:
        row = measure(n, args.shard_size)
        print(
            f"{row['n']:>10} {row['peak_rss_mb']:>12.0f} {row['seconds']:>8.1f} {row['inputs_mb']:>10.1f} "
            f"{row['examples_npz_mb']:>16.1f} {row['results_json_kb']:>16.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Running a benchmark's work as Ray tasks: model x attack suite x attack x data shard.

Each task computes the cells of one attack on one shard and saves them to the cell store under
the report folder, which every worker must see (a shared path on a cluster). Ray hands tasks to
workers as they become free, so uneven work (broken points drop out of later eps) balances itself;
a task whose worker dies is retried, and the cells it had already saved are not computed again.
When every task is done, the driver runs the ordinary in-process runner on the same folder: it
finds every cell saved and assembles the results, so the numbers, per-example outcomes, intervals,
checks and gate verdict are those of a single-process run by construction.

Needs the ``ray`` extra (``pip install 'robustkit[ray]'``).

Example:
    >>> worker_environment(threads=1, cache="/shared/cache")["TF_NUM_INTRAOP_THREADS"]
    '1'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robustkit.errors import ConfigError
from robustkit.evaluation.evaluation_kinds import compute_shard, shard_tasks
from robustkit.evaluation.shards import ShardTask
from robustkit.evaluation.suites import BenchmarkSuite
from robustkit.sources.data import load_data

RETRIES = 3  # a task whose worker process dies is run again this many times


def worker_environment(threads: int | None = None, cache: str | None = None) -> dict[str, str]:
    """Environment variables for Ray workers: TensorFlow's thread counts and robustkit's model cache."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
    if cache:
        env["ROBUSTKIT_CACHE"] = cache
    return env


def _ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ConfigError(f"--ray needs Ray: pip install 'robustkit[ray]' ({err}).") from None
    return ray


def compute_with_ray(
    suite: BenchmarkSuite,
    out_dir: str | Path,
    address: str | None = None,
    threads_per_task: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> int:
    """Compute every cell of ``suite`` as Ray tasks; returns how many tasks ran.

    ``address`` is a running cluster's (``ray://...`` or ``host:port``); None starts a local one
    with a worker per core. ``out_dir`` must be a path every worker sees.
    """
    ray = _ray()
    out_dir = Path(out_dir).resolve()
    n = len(load_data(suite.data).take(suite.limit).y_test)
    tasks = shard_tasks(suite, n)
    env = worker_environment(threads_per_task, os.environ.get("ROBUSTKIT_CACHE"))
    started_here = not ray.is_initialized()
    if started_here:
        options: dict = {"include_dashboard": False, "log_to_driver": False, "runtime_env": {"env_vars": env}}
        ray.init(address=address, **options)
    try:
        remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(compute_shard)
        pending = {remote.remote(suite, str(out_dir), task): task for task in tasks}
        done = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            task: ShardTask = pending.pop(ready[0])
            ray.get(ready[0])  # raises the task's error, after its retries, here
            done += 1
            if progress:
                progress(done, len(tasks), f"ray: {task.model} {task.suite} {task.method} shard {task.shard}")
    finally:
        if started_here:
            ray.shutdown()
    return len(tasks)

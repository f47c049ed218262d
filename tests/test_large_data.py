"""Data larger than memory: arrays read from disk and evaluated shard by shard, resumable, same numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from robustkit.errors import DataError
from robustkit.evaluation.results_columns import example_columns
from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.suites import AttackSpec, AttackSuite, BenchmarkSuite
from robustkit.sources.data import NpyOnDisk, load_data

# Attacks without a random start: their answer does not depend on which examples share a batch.
LINF = AttackSuite(
    "linf",
    "linf",
    (0.05, 0.1),
    (
        AttackSpec("fgsm", "fgsm", "linf"),
        AttackSpec("pgd-5", "pgd", "linf", steps=5, rel_step_size=0.3, random_start=False),
    ),
)


@pytest.fixture(scope="module")
def array_folder(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("arrays")
    x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=digits.x_test.shape)
    x[:] = digits.x_test
    x.flush()
    del x
    np.save(folder / "y.npy", digits.y_test)
    return folder


def test_an_array_folder_is_read_from_disk_as_needed(array_folder, digits):
    data = load_data(str(array_folder))
    assert isinstance(data.x_test, NpyOnDisk) and data.info["read_from_disk"]
    np.testing.assert_array_equal(data.x_test[100:110], digits.x_test[100:110])
    np.testing.assert_array_equal(data.x_test[[3, 7, 300]], digits.x_test[[3, 7, 300]])
    np.testing.assert_array_equal(np.asarray(data.x_test), digits.x_test)
    assert data.fingerprint() == digits.take(None).fingerprint()


def test_shards_give_the_numbers_of_one_pass_and_resume_shard_by_shard(array_folder, tmp_path):
    suite = BenchmarkSuite("big", str(array_folder), ["digits-mlp"], [LINF], checks=False, batch_size=64)
    whole = run_benchmark(suite, tmp_path / "whole")
    sharded_suite = dataclasses.replace(suite, shard_size=100)  # 360 examples: shards of 100, 100, 100, 60
    sharded = run_benchmark(sharded_suite, tmp_path / "sharded")
    assert sharded.cells_computed == 4 * whole.cells_computed
    assert len(list((tmp_path / "sharded" / "cells").rglob("shard-*"))) == 4 * 2
    numbers = ["robust_accuracy", "clean_accuracy", "success_rate", "grad_evals", "median_norm"]
    assert whole.summary[numbers].equals(sharded.summary[numbers])
    a, b = example_columns(whole.results), example_columns(sharded.results)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)
    again = run_benchmark(sharded_suite, tmp_path / "sharded")  # every shard's cells are found again
    assert again.cells_computed == 0 and again.cells_reused == sharded.cells_computed
    assert again.summary[numbers].equals(sharded.summary[numbers])


def test_a_broken_array_folder_says_what_to_fix(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 4), np.float64))
    np.save(tmp_path / "y.npy", np.zeros(3, np.int64))
    with pytest.raises(DataError, match="float32"):
        load_data(str(tmp_path))
    np.save(tmp_path / "x.npy", np.zeros((3, 4), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(2, np.int64))
    with pytest.raises(DataError, match="3 integer labels"):
        load_data(str(tmp_path))

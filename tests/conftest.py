"""Shared test set-up: Hypothesis profiles and small models trained once per test run."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=20,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

import pytest  # noqa: E402

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session", autouse=True)
def zoo_cache(tmp_path_factory):
    """One model cache per test run: zoo models are trained once, then loaded from disk.

    Subprocesses started by tests (the command line) inherit it, so they reuse the models too.
    """
    path = os.environ.get("ROBUSTKIT_TEST_CACHE") or str(tmp_path_factory.mktemp("robustkit-cache"))
    previous = os.environ.get("ROBUSTKIT_CACHE")
    os.environ["ROBUSTKIT_CACHE"] = path
    yield path
    if previous is None:
        os.environ.pop("ROBUSTKIT_CACHE", None)
    else:
        os.environ["ROBUSTKIT_CACHE"] = previous


@pytest.fixture(scope="session")
def digits():
    from robustkit.sources.data import load_digits_split

    return load_digits_split()


@pytest.fixture(scope="session")
def digits_cnn(zoo_cache):
    from robustkit.sources.zoo import load_zoo_model

    return load_zoo_model("digits-cnn")


@pytest.fixture(scope="session")
def digits_mlp(zoo_cache):
    from robustkit.sources.zoo import load_zoo_model

    return load_zoo_model("digits-mlp")


@pytest.fixture(scope="session")
def digits_cnn_pgd(zoo_cache):
    from robustkit.sources.zoo import load_zoo_model

    return load_zoo_model("digits-cnn-pgd")

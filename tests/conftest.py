"""Shared test set-up: Hypothesis profiles and small models trained once per test run."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from hypothesis import HealthCheck, settings  # noqa: E402

# Hypothesis at full strength (20 examples a test) everywhere but in the fast tier (`pytest`, whose
# marker expression is "not slow"), which tries 5; the slow tier runs every Hypothesis test again
# at full strength. `ci` is derandomized. HYPOTHESIS_PROFILE names a profile outright.
for _name, _examples in (("ci", 20), ("dev", 20), ("ci-fast", 5), ("dev-fast", 5)):
    settings.register_profile(
        _name,
        derandomize=_name.startswith("ci"),
        max_examples=_examples,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def pytest_configure(config):
    fast_tier = (config.getoption("markexpr", "") or "").strip() == "not slow"
    name = ("ci" if os.environ.get("CI") else "dev") + ("-fast" if fast_tier else "")
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or name)


import ast  # noqa: E402
import hashlib  # noqa: E402
import importlib  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest_plugins = ["pytester"]

PACKAGE = Path(__file__).resolve().parent.parent / "robustkit"
TRAINING_ENTRY = ("robustkit.sources.zoo", "robustkit.sources.zoo_training")


def _module_file(name: str) -> Path | None:
    relative = Path(*name.split(".")[1:])
    candidates = [PACKAGE / "__init__.py"] if name == "robustkit" else [PACKAGE / f"{relative}.py"]
    candidates.append(PACKAGE / relative / "__init__.py")
    return next((path for path in candidates if path.is_file()), None)


def _imported_modules(source: str) -> set[str]:
    """robustkit modules that ``source`` imports anywhere (inside functions too, and by name in a
    string, as registries do), with their packages."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from package import module`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("robustkit."):
            found.add(node.value.split(":")[0].strip())
    closure = {module for module in found if module.startswith("robustkit")}
    packages = {module.rsplit(".", depth)[0] for module in closure for depth in range(1, module.count(".") + 1)}
    return closure | packages


def training_code_key() -> str:
    """A digest of the code that trains the zoo's models (every robustkit module it can import) and
    of TensorFlow's, Keras's and NumPy's versions: the cache of trained test models is kept under it."""
    sources: dict[str, str] = {}  # every module reached, with its source ("" for a name that is no module)
    pending = list(TRAINING_ENTRY)
    while pending:
        name = pending.pop()
        if name not in sources:
            path = _module_file(name)
            sources[name] = path.read_text() if path is not None else ""
            pending.extend(_imported_modules(sources[name]))
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(f"{name}\0{sources[name]}".encode())
    for package in ("tensorflow", "keras", "numpy"):
        digest.update(f"{package}=={importlib.import_module(package).__version__}".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session", autouse=True)
def zoo_cache():
    """Trained test models, kept on disk across test runs under a key of the code that trains them
    (``~/.cache/robustkit-tests/KEY``; ``ROBUSTKIT_TEST_CACHE`` names a folder instead). A change to
    that code, or to TensorFlow's or Keras's version, trains them afresh.

    Subprocesses started by tests (the command line) inherit it, so they reuse the models too.
    """
    default = Path.home() / ".cache" / "robustkit-tests" / training_code_key()
    path = os.environ.get("ROBUSTKIT_TEST_CACHE") or str(default)
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

"""The public API is pinned: the names each facade exports and their signatures.

A change to the public API must be a decision: this test fails on any added, removed or changed
name or signature, and says how to record the new API once it is intended::

    python tests/test_public_api.py --update

The old import paths of moved modules (``robustkit.train``, ``robustkit.data``, ``robustkit.zoo``,
...) still work for one release and warn that they will go.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

FACADES = (
    "robustkit",
    "robustkit.attacks",
    "robustkit.training",
    "robustkit.sources",
    "robustkit.evaluation",
    "robustkit.outputs",
    "robustkit.constraints",
    "robustkit.certify",
    "robustkit.verify",
)
PINNED = Path(__file__).with_name("public_api.json")
OLD_PATHS = {
    "robustkit.train": "AdversarialTrainer",
    "robustkit.augment": "augment_dataset",
    "robustkit.data": "load_digits_split",
    "robustkit.models": "load_model",
    "robustkit.zoo": "load_zoo_model",
    "robustkit.testing": "assert_robust",
}


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def _describe(obj) -> object:
    if inspect.isclass(obj):
        methods = {
            name: _signature(member)
            for name, member in sorted(vars(obj).items())
            if not name.startswith("_")
            and (inspect.isfunction(member) or isinstance(member, (classmethod, staticmethod)))
        }
        return {"class": _signature(obj), "methods": methods}
    if callable(obj):
        return _signature(obj)
    return type(obj).__name__


def current_api() -> dict:
    api = {}
    for facade in FACADES:
        module = importlib.import_module(facade)
        names = getattr(module, "__all__", None)
        assert names is not None, f"{facade} must declare __all__: its public names"
        api[facade] = {name: _describe(getattr(module, name)) for name in sorted(names)}
    return api


def test_the_public_api_is_as_pinned():
    pinned = json.loads(PINNED.read_text())
    now = current_api()
    changes = []
    for facade in sorted(set(pinned) | set(now)):
        old, new = pinned.get(facade, {}), now.get(facade, {})
        changes += [f"{facade}.{n}: removed" for n in sorted(set(old) - set(new))]
        changes += [f"{facade}.{n}: added" for n in sorted(set(new) - set(old))]
        changes += [f"{facade}.{n}: changed" for n in sorted(set(old) & set(new)) if old[n] != new[n]]
    assert not changes, (
        "The public API changed:\n  " + "\n  ".join(changes) + "\nIf that is intended, record it with "
        "`python tests/test_public_api.py --update` and say so in the change."
    )


def test_every_facade_name_is_importable_from_the_facade_only():
    for facade in FACADES:
        module = importlib.import_module(facade)
        for name in module.__all__:
            assert getattr(module, name) is not None


@pytest.mark.slow
def test_old_import_paths_warn_and_work():
    """One fresh interpreter for all of them: each path warns on import and still gives its names."""
    code = "import importlib, warnings\n"
    for old, name in sorted(OLD_PATHS.items()):
        code += (
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            f"    module = importlib.import_module({old!r})\n"
            "print('warned:', ' '.join(str(w.message) for w in caught if w.category is FutureWarning))\n"
            f"print('works:', getattr(module, {name!r}).__name__)\n"
        )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for old, name in OLD_PATHS.items():
        assert f"warned: {old} is deprecated and will be removed in the next release" in done.stdout, old
        assert f"works: {name}" in done.stdout


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    PINNED.write_text(json.dumps(current_api(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {PINNED}")

"""The package's layers import only downwards, and no private helper crosses a module boundary.

Layers, bottom to top: foundation (errors, backend, files, stats), the core (inputs, logits,
losses, norms, gradients), the kinds of evaluation (attacks, certification), training, sources
(data, models, the zoo), evaluation (suites, sweep, cells, results, trust checks), outputs
(report, gate, pytest plugin), the CLI.
Every import counts, also one inside a function: a function-level import cannot hide an upward
dependency.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import robustkit

PACKAGE = Path(robustkit.__file__).parent
LAYERS = [
    (
        "foundation",
        ["robustkit._backend", "robustkit._startup", "robustkit.errors", "robustkit.files", "robustkit.stats"],
    ),
    (
        "core",
        [
            "robustkit",
            "robustkit.inputs",
            "robustkit.ranges",
            "robustkit.logits",
            "robustkit.losses",
            "robustkit.norms",
            "robustkit.tracing",
            "robustkit.tape",
            "robustkit.gradients",
        ],
    ),
    ("kinds of evaluation", ["robustkit.attacks", "robustkit.certify", "robustkit.verify", "robustkit.corruptions"]),
    ("training", ["robustkit.training"]),
    ("sources", ["robustkit.sources"]),
    ("evaluation", ["robustkit.evaluation"]),
    ("outputs", ["robustkit.outputs"]),
    (  # old import paths of moved modules, kept for one release: they may point at any layer below
        "deprecated aliases",
        [f"robustkit.{old}" for old in ("train", "augment", "data", "models", "zoo", "testing")],
    ),
    ("cli", ["robustkit.cli", "robustkit.__main__"]),
]


def layer_of(module: str) -> int:
    """The layer of a module: its longest matching prefix in LAYERS."""
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{module} belongs to no layer: add it to LAYERS"
    return rank


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, ast.parse(path.read_text())


def imports(tree: ast.AST):
    """``(module, names)`` for every robustkit import in the tree, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "robustkit":
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "robustkit":
                    yield alias.name, []


def test_every_import_points_down_or_sideways():
    upward = []
    for name, tree in modules():
        for target, _ in imports(tree):
            if layer_of(target) > layer_of(name):
                upward.append(f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert not upward, "\n".join(upward)


def test_no_private_helper_is_imported_from_another_module():
    crossing = [
        f"{name} imports {target}.{n}"
        for name, tree in modules()
        for target, names in imports(tree)
        for n in names
        if n.startswith("_") and target != name
    ]
    assert not crossing, "\n".join(crossing)


def test_the_suite_layer_describes_attacks_and_does_not_build_them():
    for name in ("robustkit.evaluation.suites", "robustkit.evaluation.attack_suites"):
        tree = dict(modules())[name]
        used = {n for target, names in imports(tree) if target.startswith("robustkit.attacks") for n in names}
        assert used <= {"ATTACKS", "version_attacks"}, used  # the classes' declarations, and AutoAttack's list
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"build_attack", "FGSM", "PGD", "GradientAttack", "AutoAttack"}


def test_the_layer_rule_catches_an_upward_import():
    tree = ast.parse("def f():\n    from robustkit.cli import main\n")
    assert [layer_of(target) for target, _ in imports(tree)] == [len(LAYERS) - 1] and layer_of(
        "robustkit.attacks.base"
    ) == 2


def import_graph(trees: dict[str, ast.AST]) -> dict[str, set[str]]:
    """Module -> the robustkit modules it imports, at any depth (``from a import b`` names ``a.b`` where
    that is a module, else ``a``)."""
    graph: dict[str, set[str]] = {name: set() for name in trees}

    def module_of(target: str) -> str:
        while target not in trees and "." in target:
            target = target.rsplit(".", 1)[0]
        return target

    for name, tree in trees.items():
        for target, names in imports(tree):
            found = [f"{target}.{n}" for n in names if f"{target}.{n}" in trees] or [module_of(target)]
            graph[name].update(m for m in found if m != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_counting_imports_inside_functions():
    found = cycles(import_graph(dict(modules())))
    assert not found, "import cycles (an import inside a function counts):\n" + "\n".join(map(" <-> ".join, found))


def test_the_cycle_check_finds_a_cycle_hidden_inside_a_function():
    trees = {
        "robustkit.a": ast.parse("from robustkit.b import f\n"),
        "robustkit.b": ast.parse("def f():\n    from robustkit import c\n"),
        "robustkit.c": ast.parse("def g():\n    import robustkit.a\n"),
        "robustkit.d": ast.parse("from robustkit.a import x\n"),
    }
    assert cycles(import_graph(trees)) == [["robustkit.a", "robustkit.b", "robustkit.c"]]


@pytest.mark.slow
def test_loading_a_cached_zoo_model_imports_no_training_or_attack_code(digits_mlp, zoo_cache):
    code = (
        "import sys; from robustkit.sources.models import load_model; load_model('digits-mlp'); "
        "print(sorted(m for m in sys.modules if m.startswith(('robustkit.training', 'robustkit.attacks'))))"
    )
    env = dict(os.environ, ROBUSTKIT_CACHE=zoo_cache, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


MAX_MODULE_LINES = 350  # a module longer than this holds more than one concept
MAX_FUNCTION_LINES = 80


def test_modules_and_functions_stay_short():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            long.append(f"{path.relative_to(PACKAGE.parent)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {size} lines")
    assert not long, "split these:\n" + "\n".join(long)

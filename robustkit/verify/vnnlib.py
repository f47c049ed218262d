"""VNN-LIB properties (the input format of the VNN-COMP verification competition) as specifications.

A VNN-LIB file declares the inputs ``X_i`` and outputs ``Y_j`` as real constants and asserts
constraints on them; the asserted set is the *unsafe* one, so the property holds (``unsat``) when no
input satisfies every assertion, and a counterexample (``sat``) is an input that does. Supported:
``(assert (<= a b))`` and ``(>= a b)`` where ``a`` and ``b`` are a variable, a number or a linear
expression (``+``, ``-``, ``*`` by a number), and ``and`` / ``or`` of them. Constraints on one input
each give the input box; the rest, on outputs only, the unsafe clauses. A disjunction over input boxes
gives one :class:`~robustkit.verify.specification.Specification` per box.

Example:
    >>> text = '''
    ... (declare-const X_0 Real) (declare-const Y_0 Real) (declare-const Y_1 Real)
    ... (assert (>= X_0 -1.0)) (assert (<= X_0 1.0))
    ... (assert (or (and (>= Y_1 Y_0)) (and (<= Y_0 -3))))'''
    >>> (spec,) = parse_vnnlib(text)
    >>> spec.lower.tolist(), spec.upper.tolist(), [c.matrix.tolist() for c in spec.clauses]
    ([-1.0], [1.0], [[[1.0, -1.0]], [[1.0, 0.0]]])
"""

from __future__ import annotations

import itertools
import os
import re

import numpy as np

from robustkit.errors import ConfigError
from robustkit.verify.specification import Clause, Specification

Linear = dict[str, float]  # variable name -> coefficient; "" -> the constant
Atom = Linear  # a constraint "expression <= 0"


def _tokens(text: str) -> list[str]:
    text = re.sub(r";[^\n]*", " ", text)
    return re.findall(r"\(|\)|[^\s()]+", text)


def _tree(tokens: list[str]) -> list:
    stack: list[list] = [[]]
    for token in tokens:
        if token == "(":
            stack.append([])
        elif token == ")":
            if len(stack) == 1:
                raise ConfigError("VNN-LIB: a ')' closes nothing.")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    if len(stack) != 1:
        raise ConfigError("VNN-LIB: a '(' is never closed.")
    return stack[0]


def _combine(a: Linear, b: Linear, factor: float = 1.0) -> Linear:
    found = dict(a)
    for name, value in b.items():
        found[name] = found.get(name, 0.0) + factor * value
    return found


def _linear(term) -> Linear:
    if isinstance(term, str):
        if re.fullmatch(r"[XY]_\d+", term):
            return {term: 1.0}
        try:
            return {"": float(term)}
        except ValueError:
            raise ConfigError(f"VNN-LIB: {term!r} is neither a declared input or output nor a number.") from None
    head, *args = term
    parts = [_linear(arg) for arg in args]
    if head == "+":
        return _sum(parts)
    if head == "-":
        if len(parts) == 1:
            return _combine({}, parts[0], -1.0)
        return _sum([parts[0]] + [_combine({}, p, -1.0) for p in parts[1:]])
    if head == "*":
        constants = [p for p in parts if set(p) <= {""}]
        if len(constants) < len(parts) - 1:
            raise ConfigError("VNN-LIB: a product of two variables is not linear.")
        factor = float(np.prod([p.get("", 0.0) for p in constants]))
        rest = [p for p in parts if not set(p) <= {""}]
        return _combine({}, rest[0], factor) if rest else {"": factor}
    raise ConfigError(f"VNN-LIB: the operator {head!r} is not supported (use +, -, * and numbers).")


def _sum(parts: list[Linear]) -> Linear:
    found: Linear = {}
    for part in parts:
        found = _combine(found, part)
    return found


def _dnf(term) -> list[list[Atom]]:
    """A formula as a disjunction of conjunctions of atoms ``expression <= 0``."""
    head, *args = term
    if head in ("<=", ">="):
        if len(args) != 2:
            raise ConfigError(f"VNN-LIB: ({head} ...) needs two operands, got {len(args)}.")
        low, high = (args[0], args[1]) if head == "<=" else (args[1], args[0])
        return [[_combine(_linear(low), _linear(high), -1.0)]]
    if head == "and":
        return [sum(choice, []) for choice in itertools.product(*[_dnf(arg) for arg in args])]
    if head == "or":
        return [conjunction for arg in args for conjunction in _dnf(arg)]
    raise ConfigError(f"VNN-LIB: {head!r} is not supported in an assertion (use <=, >=, and, or).")


def _split_atoms(atoms: list[Atom], inputs: int, outputs: int):
    lower, upper = np.full(inputs, -np.inf), np.full(inputs, np.inf)
    rows, offsets = [], []
    for atom in atoms:
        names = [k for k, v in atom.items() if k and v != 0]
        if names and all(name.startswith("X_") for name in names):
            if len(names) != 1:
                raise ConfigError("VNN-LIB: a constraint that mixes several inputs is not supported; give a box.")
            index, coefficient = int(names[0][2:]), atom[names[0]]
            bound = -atom.get("", 0.0) / coefficient
            if coefficient > 0:
                upper[index] = min(upper[index], bound)
            else:
                lower[index] = max(lower[index], bound)
        elif any(name.startswith("X_") for name in names):
            raise ConfigError("VNN-LIB: a constraint that mixes inputs and outputs is not supported.")
        else:
            row = np.zeros(outputs)
            for name in names:
                row[int(name[2:])] = atom[name]
            rows.append(row)
            offsets.append(-atom.get("", 0.0))
    return lower, upper, rows, offsets


def parse_vnnlib(text: str) -> list[Specification]:
    """The specifications of a VNN-LIB property's text, one per input box (see the module docstring)."""
    tree = _tree(_tokens(text))
    declared = [item[1] for item in tree if isinstance(item, list) and item and item[0] == "declare-const"]
    inputs = sum(1 for name in declared if name.startswith("X_"))
    outputs = sum(1 for name in declared if name.startswith("Y_"))
    asserted = [item[1] for item in tree if isinstance(item, list) and item and item[0] == "assert"]
    if not inputs or not outputs or not asserted:
        raise ConfigError("VNN-LIB: expected declared X_i inputs, Y_j outputs and assertions.")
    cases = [sum(choice, []) for choice in itertools.product(*[_dnf(term) for term in asserted])]
    boxes: dict[tuple, list[Clause]] = {}
    for atoms in cases:
        lower, upper, rows, offsets = _split_atoms(atoms, inputs, outputs)
        key = (lower.tobytes(), upper.tobytes())
        boxes.setdefault(key, [])
        if rows:
            boxes[key].append(Clause(np.array(rows), np.array(offsets)))
    found = []
    for (low, high), clauses in boxes.items():
        lower, upper = np.frombuffer(low), np.frombuffer(high)
        if not np.all(np.isfinite(lower) & np.isfinite(upper)):
            missing = int(np.flatnonzero(~(np.isfinite(lower) & np.isfinite(upper)))[0])
            raise ConfigError(f"VNN-LIB: input X_{missing} has no lower or no upper bound.")
        found.append(Specification(lower.copy(), upper.copy(), tuple(clauses)))
    return found


def read_vnnlib(path: str | os.PathLike) -> list[Specification]:
    """:func:`parse_vnnlib` of a file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_vnnlib(handle.read())
    except OSError as error:
        raise ConfigError(f"Could not read the VNN-LIB file {os.fspath(path)!r}: {error}") from error

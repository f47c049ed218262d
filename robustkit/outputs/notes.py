"""What a reader must know besides the numbers: the classes' names, attacks that had to change for
the model (a loss that needs more classes), constraints in force, and the checks that warn or fail.

Every report format and the command line's closing summary take these lines from here.

Example:
    >>> results = {"data": {"info": {"class_names": ["cat", "dog"]}}, "models": {}, "checks": [
    ...     {"model": "m", "name": "clean-accuracy", "status": "warn", "value": "50.0%",
    ...      "message": "Clean accuracy against chance. Near or below chance, ..."}]}
    >>> run_notes(results)
    ['Classes: 0 cat, 1 dog (from the data: sorted, as Keras numbers them).']
    >>> flagged_checks(results)
    ['m: warn clean-accuracy (50.0%): Clean accuracy against chance.']
"""

from __future__ import annotations

from typing import Any

from robustkit.sources.classes import describe_classes

CHECK_ORDER = {"fail": 0, "warn": 1}


def run_notes(results: Any) -> list[str]:
    """Sentences for the top of a report."""
    notes = []
    classes = describe_classes(results["data"].get("info", {}))
    if classes:
        notes.append(f"Classes: {classes}.")
    described = {
        tuple(suite["constraints"]["described"])
        for suite in results.get("suite", {}).get("attack_suites", [])
        if suite.get("constraints")
    }
    for texts in sorted(described):
        notes.append("Constraints in force: " + "; ".join(texts) + ".")
    for model, info in results.get("models", {}).items():
        for text in info.get("substitutions", []):
            notes.append(f"{model}: {text}")
    return notes


def first_sentence(text: str) -> str:
    head, _, _ = text.partition(". ")
    return head if head.endswith(".") else head + "."


def flagged_checks(results: Any) -> list[str]:
    """One line per trust check that warns or fails: model, status, check, value and the first sentence of why."""
    flagged = [c for c in results.get("checks") or [] if c["status"] in CHECK_ORDER]
    flagged.sort(key=lambda c: (c["model"], CHECK_ORDER[c["status"]]))
    return [f"{c['model']}: {c['status']} {c['name']} ({c['value']}): {first_sentence(c['message'])}" for c in flagged]

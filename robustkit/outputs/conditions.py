"""One thing the gate checked, as every output of the gate (terminal, JUnit, Markdown) shows it.

``junit_xml`` and ``markdown_summary`` render a list of them for CI systems: one JUnit test case per
condition, and a trust check that did not apply is a skipped case.

Example:
    >>> Condition("threshold", "m linf eps=0.1", True, "robust accuracy 80.00% >= 75.00%").passed
    True
    >>> print(junit_xml([Condition("check", "finite gradients", True, "ok")], "default").splitlines()[2])
      <testcase classname="robustkit.check" name="finite gradients"></testcase>
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from robustkit.evaluation.results import Results


@dataclass
class Condition:
    """One thing the gate checked: a threshold, a baseline comparison or a sanity check."""

    kind: str  # "threshold", "baseline", "check"
    name: str
    passed: bool
    message: str
    details: list[str] = field(default_factory=list)
    skipped: bool = False  # nothing to check (a trust check that did not apply): neither passed nor failed


def junit_xml(conditions: list[Condition], suite: str) -> str:
    """JUnit XML with one test case per condition (a failed condition is a failed test)."""
    failures = sum(not c.passed for c in conditions)
    skipped = sum(c.skipped for c in conditions)
    cases = []
    for c in conditions:
        if c.skipped:
            body = f"<skipped message={quoteattr(c.message)}/>"
        elif c.passed:
            body = ""
        else:
            body = f"<failure message={quoteattr(c.message)}>{escape(chr(10).join([c.message] + c.details))}</failure>"
        cases.append(f'  <testcase classname="robustkit.{c.kind}" name={quoteattr(c.name)}>{body}</testcase>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name={quoteattr("robustkit gate: " + suite)} tests="{len(conditions)}" '
        f'failures="{failures}" errors="0" skipped="{skipped}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )


def markdown_summary(conditions: list[Condition], results: Results, baseline_path: Any = None) -> str:
    """The gate's verdict as Markdown for a CI job summary: the count that held, then every condition,
    failures first."""
    failed = [c for c in conditions if not c.passed]
    verdict = "FAILED" if failed else "PASSED"
    lines = [f"## robustkit gate {verdict}: {results['suite']['name']}", ""]
    skipped = sum(c.skipped for c in conditions)
    lines.append(
        f"{len(conditions) - len(failed) - skipped} of {len(conditions) - skipped} conditions hold"
        + (f" ({skipped} checks did not apply)" if skipped else "")
        + (f"; baseline `{baseline_path}`" if baseline_path else "; no baseline")
        + "."
    )
    lines += ["", "| | condition | result |", "|---|---|---|"]
    for c in sorted(conditions, key=lambda c: c.passed):
        mark = "⏭️" if c.skipped else "✅" if c.passed else "❌"
        lines.append(f"| {mark} | {c.name} | {c.message.replace('|', '/')} |")
    return "\n".join(lines) + "\n"

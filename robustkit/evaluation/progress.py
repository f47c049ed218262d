"""A run's progress: cells done of the total, and how many were computed or resumed.

Example:
    >>> seen = []
    >>> progress = RunProgress(3, lambda done, total, what: seen.append((done, total, what)))
    >>> tick = progress.ticker("digits-cnn linf pgd-20")
    >>> tick(True); progress.counted(1, 0); seen, progress.computed
    ([(1, 3, 'digits-cnn linf pgd-20')], 1)
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]


class RunProgress:
    """Cells done so far of ``total``, reported as they complete, and how many were computed or resumed."""

    def __init__(self, total: int, report: ProgressFn | None = None):
        self.total, self.report = total, report
        self.done = self.computed = self.reused = 0

    def ticker(self, description: str) -> Callable[[bool], None]:
        """A function to call once per cell done, computed or resumed."""

        def tick(_: bool) -> None:
            self.done += 1
            if self.report:
                self.report(self.done, self.total, description)

        return tick

    def counted(self, computed: int, reused: int) -> None:
        self.computed += computed
        self.reused += reused

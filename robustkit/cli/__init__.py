"""The ``robustkit`` command line (on top of everything else)."""

from robustkit.cli.main import main

__all__ = ["main"]

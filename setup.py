"""Build hook: the suites in attacks/ and benchmarks/ ship inside the package as robustkit/suites/.

Everything else about the build is declared in pyproject.toml. An installed robustkit (a wheel, or
``pip install .``) finds its suites there, so ``robustkit bench`` works from any folder.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SUITE_FOLDERS = ("attacks", "benchmarks")


class BuildWithSuites(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for folder in SUITE_FOLDERS:
            target = Path(self.build_lib) / "robustkit" / "suites" / folder
            self.mkpath(str(target))
            for source in sorted((root / folder).glob("*.toml")):
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildWithSuites})

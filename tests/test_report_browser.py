"""The HTML report opens in a real browser (headless Chromium) with no errors, summary first."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess

import matplotlib.image
import pytest

from robustkit.cli import main
from robustkit.evaluation.suite_files import repository_root

pytestmark = pytest.mark.slow  # see tests/README.md: the slow tier

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium package (.ci/run); it is missing")
        pytest.skip("no chromium on this machine: apt-get install chromium (CI installs it)")
    return CHROMIUM


def _browse(chromium: str, page, profile, *action: str) -> subprocess.CompletedProcess:
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_report_loads_without_errors_and_begins_with_the_summary(chromium, tmp_path, capsys):
    reference = repository_root() / "reports" / "default" / "results.json"
    assert main(["report", str(reference), "--out", str(tmp_path)]) == 0
    page = tmp_path / "report.html"
    loaded = _browse(chromium, page, tmp_path / "profile", "--dump-dom")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    console = [line for line in loaded.stderr.splitlines() if "CONSOLE" in line or "Failed to load" in line]
    assert not console, console
    dom = loaded.stdout
    headings = re.findall(r"<h2>(.*?)</h2>", dom)
    assert headings[:3] == ["Summary", "Trust checks", "Robustness curves"], headings
    assert "digits-cnn-pgd" in dom and "linf @ 0.1" in dom
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', dom)
    assert len(images) == 2  # curves and the example grid, both decodable PNGs
    for encoded in images:
        pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(encoded)), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 300
    shot = tmp_path / "report.png"
    taken = _browse(chromium, page, tmp_path / "profile", "--window-size=1200,1800", f"--screenshot={shot}")
    assert taken.returncode == 0 and shot.stat().st_size > 20_000

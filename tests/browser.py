"""Headless Chromium for the report tests: the DOM a page ends up with and a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

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
]


def chromium() -> str:
    """The Chromium executable, or skip the test with how to get one."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("PPVAE_REQUIRE_BROWSER"):  # CI: a missing browser is a failure
        pytest.fail("PPVAE_REQUIRE_BROWSER is set but no Chromium is on PATH")
    pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)")


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def dump_dom(page: Path, profile: Path) -> str:
    """The serialised DOM of ``page`` after Chromium has loaded it."""
    return _run(["--dump-dom", page.resolve().as_uri()], profile).stdout


def screenshot(page: Path, profile: Path, size: tuple[int, int] = (1400, 5000)) -> np.ndarray:
    """A screenshot of ``page`` as an (H, W, channels) float array in [0, 1]."""
    import matplotlib.image

    target = profile / "shot.png"
    _run(
        [f"--screenshot={target}", f"--window-size={size[0]},{size[1]}", page.resolve().as_uri()],
        profile,
    )
    return matplotlib.image.imread(target)


def coloured(image: np.ndarray) -> float:
    """Share of clearly coloured pixels (plot lines, markers): text and tables are grey."""
    rgb = image[..., :3]
    return float((rgb.max(axis=-1) - rgb.min(axis=-1) > 0.25).mean())

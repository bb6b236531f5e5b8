"""Render report.html in headless Chromium and save a screenshot, to look at the page as a
reader would: `python scripts/screenshot_report.py REPORT.html OUT.png [--width W --height H]`.

Needs Debian's chromium (`apt-get install chromium`). The flags keep Chromium off the network
(the page must need none) and away from any profile but a fresh temporary one.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
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


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 2400) -> Path:
    """Render `page` (a local file) to the PNG `out`; raises if Chromium fails or is absent."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium not found; install it with: apt-get install chromium")
    out = out.resolve()
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", f"--screenshot={out}",
             page.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    print(screenshot(args.page, args.out, args.width, args.height))


if __name__ == "__main__":
    main()

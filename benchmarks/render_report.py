"""Render a siamkit report.html to a PNG with headless Chromium, to check by eye how it reads.

    python benchmarks/render_report.py RUN/report.html --out report.png [--width 1200 --height 4000]

A script, not a test: it needs a Chromium binary (Debian: ``apt-get install -y chromium``).
The browser gets no network (the report must not need one) and a throw-away profile folder.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    sys.exit("render_report: no Chromium found; install it (Debian: apt-get install -y chromium)")


def render(report: Path, out: Path, width: int = 1200, height: int = 4000, timeout: float = 120) -> Path:
    """Screenshot ``report`` (the top ``width`` x ``height`` pixels) into ``out``."""
    report, out = report.resolve(), out.resolve()
    if not report.is_file():
        sys.exit(f"render_report: {report}: not found")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="siamkit-render-") as profile:
        command = [
            find_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={out}",
            f"--window-size={width},{height}", report.as_uri(),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0 or not out.is_file():
        sys.exit(f"render_report: Chromium failed (exit {completed.returncode}): {completed.stderr.strip()[-500:]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report.html (or sweep.html) to render")
    parser.add_argument("--out", type=Path, help="PNG to write [default: next to the report, same name .png]")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()
    out = render(args.report, args.out or args.report.with_suffix(".png"), args.width, args.height)
    print(out)


if __name__ == "__main__":
    main()

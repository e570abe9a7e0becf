"""Look at an HTML verification report in a real browser: headless Chromium screenshots.

    .venv/bin/python scripts/screenshot_report.py REPORT.json OUT.png [--width 1400] [--height 2400]

Renders the JSON clause report (``verify --report r.json``) as HTML with
:func:`suites.plugin.report.to_html` and has Chromium (``apt-get install chromium``) take a
full-width screenshot of it, offline (a fresh profile, no network services, no GPU).
Prints the PNG's path and size; exits 2 with one line when Chromium is missing.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from suites.plugin.report import load_report, to_html

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium() -> str | None:
    return next(
        (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))),
        None,
    )


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def screenshot(html: str, out: Path, width: int = 1400, height: int = 2400) -> Path:
    """Write ``html`` to a file and screenshot it with headless Chromium into ``out``."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("chromium not found (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="ocs-shot-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html)
        profile = Path(tmp) / "profile"
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={out.resolve()}",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a JSON clause report (verify --report r.json)")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args(argv)
    try:
        shot = screenshot(to_html(load_report(args.report)), args.out, args.width, args.height)
    except FileNotFoundError as exc:
        print(f"screenshot_report: {exc}", file=sys.stderr)
        return 2
    width, height = png_size(shot)
    print(f"{shot}: {width}x{height} PNG, {shot.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

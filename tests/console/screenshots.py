"""`make screenshots`: the console's home and ticket pages, wide and phone-sized, as PNGs.

    python -m tests.console.screenshots [FOLDER]

Starts `serve` on a fresh SQLite log in a temporary folder, posts the story deliveries, and
drives the system's chromium (no browser is downloaded).
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.console.story import TICKET_ID, story
from tests.helpers import INTAKE
from tests.service.serve_process import serving

CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"wide": (1280, 900), "phone": (390, 844)}
PAGES = {"home": "/", "ticket": f"/tickets/{TICKET_ID}"}


def post_story(base: str) -> int:
    """Post every story delivery; the last position recorded."""
    position = 0
    for body in story():
        request = urllib.request.Request(f"{base}{INTAKE}", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            position = max(position, int(json.loads(answer.read())["position"]))
    return position


def take(base: str, position: int, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    taken = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            for size_name, (width, height) in WIDTHS.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                for page_name, path in PAGES.items():
                    page.goto(f"{base}{path}?minPosition={position}")
                    target = folder / f"{page_name}-{size_name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    taken.append(target)
                page.close()
        finally:
            browser.close()
    return taken


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path("docs/screenshots")
    with (
        tempfile.TemporaryDirectory() as workdir,
        serving(f"sqlite:///{workdir}/log.sqlite3") as base,
    ):
        position = post_story(base)
        for path in take(base, position, folder):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

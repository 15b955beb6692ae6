"""Headless Chromium for the browser test: Debian's ``chromium`` driven by Playwright (no browser download).

Playwright's own browser builds cannot be downloaded here (``playwright install`` fails), so the system browser is
launched through ``executable_path``. The flags keep it from calling home and from needing a GPU or a sandbox
(tests run as root).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def find_chromium() -> str | None:
    """The system Chromium (``ZALONI_TEST_CHROMIUM`` overrides), or None when there is none."""
    explicit = os.environ.get("ZALONI_TEST_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextmanager
def chromium_page(executable: str, *, width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A page in a fresh headless browser (its own profile), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


class Screenshots:
    """Numbered full-page screenshots in one folder; each path is printed so a failing run shows where they are."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.paths: list[Path] = []
        self._started = time.monotonic()

    def take(self, page: Any, name: str) -> Path:
        path = self.folder / f"{len(self.paths) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)
        print(f"screenshot at {time.monotonic() - self._started:5.1f} s: {path}")
        return path

    @contextmanager
    def on_failure(self, page: Any) -> Iterator[None]:
        """Take a last screenshot of what the browser showed when a step failed."""
        try:
            yield
        except BaseException:
            try:
                self.take(page, "failure")
            except Exception as exc:  # the browser itself may be gone
                print(f"no failure screenshot: {exc}")
            raise

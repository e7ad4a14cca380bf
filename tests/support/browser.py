"""A headless Chromium for the web page's browser tests (tests/e2e/test_browser.py), driven by Playwright.

Debian's ``chromium`` is used as it is (``executable_path``): nothing is downloaded. The tests are skipped,
saying which is missing, only when Playwright or a Chromium is not there (``.ci/run`` installs chromium).

Screenshots go to ``docs/screenshots`` (the README's pictures) when ``QBEDI_SCREENSHOTS=1``, else to the
test's own temporary folder (a test run does not rewrite files in the repository).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.support import REPO

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SCREENSHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 860}


def chromium_path() -> str | None:
    for p in (os.environ.get("QBEDI_CHROMIUM"), *CHROMIUM_PATHS, shutil.which("chromium"),
              shutil.which("chromium-browser")):
        if p and Path(p).is_file() and os.access(p, os.X_OK):
            return p
    return None


@contextlib.contextmanager
def chromium():
    """A launched headless Chromium (``playwright.sync_api.Browser``); skips the test when there is none."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser tests need Playwright (pip install -e '.[test]')")
    exe = chromium_path()
    if exe is None:
        pytest.skip(f"the browser tests need Chromium (apt-get install chromium; looked in {', '.join(CHROMIUM_PATHS)} "
                    "and $QBEDI_CHROMIUM)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Person:
    """One person's browser tab (their own cookies) on the web page at ``base``."""

    def __init__(self, browser, base: str, shots: Path):
        self.context = browser.new_context(viewport=VIEWPORT, base_url=base)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.shots = shots

    def sign_in(self, username: str, password: str) -> None:
        self.page.goto("/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("button:has-text('Sign in')")
        self.page.wait_for_url(re.compile(r".*/$"))

    def flash(self) -> str:
        """The page's messages, once the page an action led to has them (a click returns before the browser
        has followed the redirect: on a loaded machine, reading at once read the old page)."""
        try:
            self.page.locator(".flash").first.wait_for(timeout=10_000)
        except Exception:  # noqa: BLE001 - no message came: say so by an empty answer
            pass
        return " ".join(self.page.locator(".flash").all_inner_texts())

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        self.context.close()


def screenshot_dir(tmp_path: Path) -> Path:
    return SCREENSHOTS if os.environ.get("QBEDI_SCREENSHOTS") == "1" else tmp_path / "screenshots"

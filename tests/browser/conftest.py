"""Browser tests: Debian's chromium driven by Playwright (never a downloaded browser build).

Outside CI a missing chromium or playwright skips these tests with a message saying how to get
them; in CI (CI set) it fails the run, as a missing PostgreSQL does. One app with the demo's day
and one browser per module keep them fast; every page records its requests, so any test can
check that nothing left the server. Screenshots go to test-artefacts/dashboard/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tools.demo import DEMO_WINDOW_LENGTH_S, Day

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "test-artefacts" / "dashboard"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000


def _chromium() -> str:
    """The Debian chromium's path, or a skip (a failure in CI) saying what is missing."""
    path = os.environ.get("SETTLEMENT_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    problem = None
    if not Path(path).exists():
        problem = "chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the python package playwright is not installed (pip install -r requirements.lock)"
    if problem is None:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"browser tests are required in CI: {problem}")
    pytest.skip(f"browser tests skipped: {problem}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()  # first: skips (or fails in CI) before importing playwright
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[tuple[SettlementApp, Day]]:
    """The demo's settlement day (tools/demo.py), served on a loopback port, on an anvil of its own:
    the day moves the chain's clock past a deadline, which the session chain (its clock already
    moved by earlier tests, and not rewound by a snapshot revert) would make order-dependent."""
    devnet = Devnet.start()
    try:
        with running_app(
            devnet.manifest,
            devnet.rpc_url,
            tmp_path_factory.mktemp("browser"),
            keepalive_s=0.5,
            sweep_interval_s=0.2,
            window_length_s=DEMO_WINDOW_LENGTH_S,  # as in the demo: windows close when the operator says
        ) as app:
            day = Day(app, devnet)
            assert day.run(), "the demo's day did not reconcile"
            yield app, day
    finally:
        devnet.stop()


class Page:
    """A browser page signed in with one key, recording every URL it requests."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.set_default_timeout(WAIT_MS)

    def sign_in(self, key: str) -> None:
        self.page.goto(self.base_url + "/")
        self.page.fill("#api-key", key)
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_selector("#nav:not([hidden])")
        self.page.wait_for_selector("#view[data-page='overview']")

    def open(self, fragment: str) -> None:
        """Go to a page of the dashboard and wait until it has rendered (or shown its error)."""
        self.page.evaluate("(hash) => { location.hash = hash }", fragment)
        name = fragment.split("/")[1]
        self.page.wait_for_selector(f"#view[data-page='{name}'], #view[data-page='error']")

    def screenshot(self, name: str) -> None:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)

    def foreign_requests(self) -> list[str]:
        server = urlsplit(self.base_url).netloc
        return [
            url for url in self.requests if urlsplit(url).netloc != server and not url.startswith(("blob:", "data:"))
        ]


@pytest.fixture
def page_for(browser: Any, demo: tuple[SettlementApp, Day]) -> Iterator[Any]:
    """page_for(key) -> a signed-in Page in a fresh context (its own session storage)."""
    app, _ = demo
    contexts: list[Any] = []

    def make(key: str) -> Page:
        context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
        contexts.append(context)
        page = Page(context.new_page(), app.base_url)
        page.sign_in(key)
        return page

    yield make
    for context in contexts:
        context.close()

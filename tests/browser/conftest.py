"""Browser tests: Debian's Chromium driven by Playwright against a live uvicorn server.

One server (temporary SQLite file) per test session; every test seeds its own
data through the services with names of its own. Each page a test opens is
watched: a console error, an uncaught script error, a failed request or a
server error fails the test. ``shot(page, name)`` saves a screenshot under
tests/browser/screenshots/ for reviewers (not committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.live_server import LiveServer, live_server
from tracelot.db.engine import transaction
from tracelot.services import users

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).parent / "screenshots"
USER, PASSWORD = "packer", "pack-pass-1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/system-deps (make install)")
    with live_server() as srv:
        with transaction(srv.app.state.sessions) as s:  # type: ignore[attr-defined]
            users.create_user(s, USER, PASSWORD)
        yield srv


@pytest.fixture
def tx(server: LiveServer) -> Any:
    """``with tx() as s:`` a transaction on the live server's database (for seeding)."""
    return lambda: transaction(server.app.state.sessions)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Watch:
    """What went wrong on the pages of one test."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, page: Any) -> None:
        page.on(
            "console",
            lambda m: (
                m.type == "error" and self.problems.append(f"console error: {m.text} at {page.url}")
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        page.on(
            "requestfailed",
            lambda r: self.problems.append(f"request failed: {r.method} {r.url} ({r.failure})"),
        )
        page.on(
            "response",
            lambda r: r.status >= 500 and self.problems.append(f"server error {r.status}: {r.url}"),
        )


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    """A signed-in page at tablet-landscape size, checked for errors at the end."""
    context = browser.new_context(
        viewport={"width": 1180, "height": 820}, base_url=server.base_url, accept_downloads=True
    )
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    watch = Watch()
    watch.attach(pg)
    sign_in(pg)
    yield pg
    context.close()
    assert not watch.problems, "\n".join(watch.problems)


def sign_in(pg: Any, user: str = USER, password: str = PASSWORD) -> None:
    pg.goto("/login")
    pg.get_by_label("User name").fill(user)
    pg.get_by_label("Password").fill(password)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def shot() -> Any:
    """``shot(page, name)``: a full-page screenshot for reviewers."""

    def take(pg: Any, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    return take

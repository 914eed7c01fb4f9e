"""Browser tests: Debian's Chromium driven by Playwright against a live uvicorn server.

One server (temporary SQLite file) per test session; every test seeds its own
data through the services with names of its own. Each page a test opens is
watched: a console error, an uncaught script error, a failed request, a server
error or a refusal (a 4xx answer from our own server) fails the test; a test
that expects a refusal says so with ``watch.allow(status, path)``.
``shot(page, name)`` saves a screenshot under tests/browser/screenshots/ for
reviewers (not committed). Without /usr/bin/chromium the tests fail (they do
not skip): ``make test`` installs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    with live_server() as srv:
        with transaction(srv.app.state.sessions) as s:  # type: ignore[attr-defined]
            users.create_user(s, USER, PASSWORD)
        yield srv


@pytest.fixture
def account() -> tuple[str, str]:
    """The user name and password the ``page`` fixture signs in with."""
    return USER, PASSWORD


@pytest.fixture
def tx(server: LiveServer) -> Any:
    """``with tx() as s:`` a transaction on the live server's database (for seeding)."""
    return lambda: transaction(server.app.state.sessions)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs it (scripts/system-deps), "
            "or install Debian's chromium package yourself."
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Watch:
    """What went wrong on the pages of one test."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.problems: list[str] = []
        self.allowed: list[tuple[int, str]] = []

    def allow(self, status: int, path: str) -> None:
        """The test expects our server to refuse ``path`` (exact, without the query) with
        ``status``: that answer, and the console line the browser writes for it, pass."""
        self.allowed.append((status, path))

    def ours(self, url: str) -> bool:
        return url.rstrip("/") == self.origin.rstrip("/") or url.startswith(
            self.origin.rstrip("/") + "/"
        )

    def _expected(self, status: int, url: str) -> bool:
        path = urlsplit(url).path
        return self.ours(url) and any(status == s and path == p for s, p in self.allowed)

    def _console(self, m: Any, page: Any) -> None:
        if m.type != "error":
            return
        refused = re.match(r"Failed to load resource: .*status of (\d{3})", m.text)
        if refused and self._expected(int(refused.group(1)), m.location.get("url", "")):
            return
        self.problems.append(f"console error: {m.text} at {page.url}")

    def _response(self, r: Any) -> None:
        if r.status >= 500:
            self.problems.append(f"server error {r.status}: {r.url}")
        elif r.status >= 400 and self.ours(r.url) and not self._expected(r.status, r.url):
            self.problems.append(f"refused {r.status}: {r.request.method} {r.url}")

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self._console(m, page))
        page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        page.on(
            "requestfailed",
            lambda r: self.problems.append(f"request failed: {r.method} {r.url} ({r.failure})"),
        )
        page.on("response", self._response)


@pytest.fixture
def watch(server: LiveServer) -> Watch:
    """The watch over this test's page; ``watch.allow(401, "/login")`` expects a refusal."""
    return Watch(server.base_url)


@pytest.fixture
def page(browser: Any, server: LiveServer, watch: Watch) -> Iterator[Any]:
    """A signed-in page at tablet-landscape size, checked for errors at the end."""
    context = browser.new_context(
        viewport={"width": 1180, "height": 820}, base_url=server.base_url, accept_downloads=True
    )
    pg = context.new_page()
    pg.set_default_timeout(10_000)
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


@pytest.fixture
def fits_a_tablet() -> Any:
    """``fits_a_tablet(page)``: at 768 px (tablet portrait) the page has no horizontal
    scroll, and an open dialog lies within the window."""

    def check(pg: Any) -> None:
        pg.set_viewport_size({"width": 768, "height": 1024})
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 768, f"{pg.url} is {width} px wide at 768 px"
        dialog = pg.evaluate(
            "(() => { const d = document.querySelector('dialog[open]');"
            " return d && d.getBoundingClientRect().toJSON(); })()"
        )
        if dialog:
            assert dialog["left"] >= 0 and dialog["right"] <= 768, f"dialog {dialog} overflows"

    return check

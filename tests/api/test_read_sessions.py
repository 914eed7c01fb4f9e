"""On SQLite a request that only reads never takes the write lock, and cannot write.

Every SQLite transaction used to begin with BEGIN IMMEDIATE: a recall report of
several seconds held the lock that every sale at the packing bench waits for.
A second connection tries to take the write lock while a request's transaction
is open (after its first read): it gets it beside a GET, never beside a POST.
PostgreSQL readers never block writers (MVCC), so these tests are SQLite's (there a
read session's transaction stays READ WRITE: see ``make_sessionmaker``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select
from sqlalchemy.exc import OperationalError

from support.schema import empty_all, engine_for
from support.web import PASSWORD, USER, sign_in
from tracelot.api.app import create_app
from tracelot.db.engine import make_sessionmaker, transaction
from tracelot.db.models import Location
from tracelot.services import users
from tracelot.services.auth import create_token


@pytest.fixture
def sqlite_app(sqlite_url: str) -> Any:
    engine = engine_for(sqlite_url)
    empty_all(engine)
    return create_app(engine=engine)


@pytest.fixture
def api(sqlite_app: Any) -> Iterator[TestClient]:
    with transaction(sqlite_app.state.sessions) as s:
        token = create_token(s, "tester")
    with TestClient(sqlite_app, headers={"Authorization": f"Bearer {token}"}) as c:
        c.get("/v1/locations")  # the token is known from here on: no look-up
        yield c


def lock_free_during(app: Any, request: Callable[[], Any]) -> list[bool]:
    """Whether another connection could take the write lock, tried once the request's
    transaction has read something."""
    engine = app.state.engine
    tried: list[bool] = []

    def probe(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if tried or not statement.startswith("SELECT"):
            return
        other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            tried.append(True)
        except sqlite3.OperationalError:  # database is locked
            tried.append(False)
        finally:
            other.close()

    event.listen(engine, "after_cursor_execute", probe)
    try:
        response = request()
    finally:
        event.remove(engine, "after_cursor_execute", probe)
    assert response.status_code < 400, response.text
    return tried


def test_a_get_request_leaves_the_write_lock_to_writers(sqlite_app: Any, api: TestClient) -> None:
    assert lock_free_during(sqlite_app, lambda: api.get("/v1/locations")) == [True]


def test_a_post_request_holds_the_write_lock_from_its_start(
    sqlite_app: Any, api: TestClient
) -> None:
    post = lambda: api.post("/v1/locations", json={"name": "Dock 2"})  # noqa: E731
    assert lock_free_during(sqlite_app, post) == [False]


def test_a_web_page_reads_without_the_write_lock(sqlite_app: Any) -> None:
    with transaction(sqlite_app.state.sessions) as s:
        users.create_user(s, USER, PASSWORD)
    with TestClient(sqlite_app) as web:
        sign_in(web)
        assert lock_free_during(sqlite_app, lambda: web.get("/sell")) == [True]


def test_a_write_in_a_read_session_fails_at_once(sqlite_app: Any) -> None:
    """A read that wrote would wait for the lock, or fail at commit: it fails first, and
    the pooled connection writes again for a writer."""
    engine = sqlite_app.state.engine
    reads, writes = make_sessionmaker(engine, read_only=True), make_sessionmaker(engine)
    for n in ("Dock 1", "Dock 2"):  # the same pooled connection, read-only then not, twice
        with reads() as s, s.begin(), pytest.raises(OperationalError, match="readonly"):
            s.execute(insert(Location).values(name="Nowhere"))
        with transaction(writes) as s:
            s.execute(insert(Location).values(name=n))
    with transaction(reads) as s:
        assert s.scalars(select(Location.name).order_by(Location.id)).all() == ["Dock 1", "Dock 2"]

"""Fixtures shared by the whole suite.

Service and API tests take ``db_url``, which runs each of them twice: on
SQLite (a file with WAL, as users run it) and on a PostgreSQL server that
this test set-up starts itself (one per xdist worker) and stops afterwards.
The schema is created from the models once per database (a separate test,
tests/integration/test_migrations.py, checks that the Alembic migrations build
exactly that schema); between tests every table is emptied, which is far
faster than building it again.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).parent))

import tracelot.db.models  # noqa: E402,F401
from pg_server import PostgresServer  # noqa: E402
from tracelot.db.engine import make_sessionmaker  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
os.environ.setdefault("TRACELOT_BASE_URI", "https://tracelot.example")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_url() -> Iterator[str]:
    """A SQLite file in a temporary folder, removed with the session (each run left
    one behind per worker: 18 MB each, a gigabyte of /tmp after a day's runs)."""
    folder = Path(tempfile.mkdtemp(prefix="tracelot-test-"))
    try:
        yield f"sqlite:///{folder / 'test.db'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


from support.schema import empty_all, engine_for  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    name = "pg_server_url" if request.param == "postgresql" else "sqlite_url"
    url: str = request.getfixturevalue(name)
    empty_all(engine_for(url))
    return url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return engine_for(db_url)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the project; tests that need it skip (saying so) without it."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: reference data not available")
    return SHARED


@pytest.fixture
def app(engine: Engine):  # type: ignore[no-untyped-def]
    from tracelot.api.app import create_app

    return create_app(engine=engine)


@pytest.fixture
def token(sessions: sessionmaker[Session]) -> str:
    from tracelot.db.engine import transaction
    from tracelot.services.auth import create_token

    with transaction(sessions) as s:
        return create_token(s, "tester")


@pytest.fixture
def client(app, token):  # type: ignore[no-untyped-def]
    """An HTTP client for the real app (in-process ASGI), authorised with a real token."""
    from fastapi.testclient import TestClient

    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


@pytest.fixture
def web(app, sessions):  # type: ignore[no-untyped-def]
    """A browser-like client of the web app, signed in as a user made for the test."""
    from fastapi.testclient import TestClient

    from support.web import PASSWORD, USER, sign_in
    from tracelot.db.engine import transaction
    from tracelot.services import users

    with transaction(sessions) as s:
        users.create_user(s, USER, PASSWORD)
    with TestClient(app) as c:
        sign_in(c)
        yield c

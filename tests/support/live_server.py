"""A real uvicorn server on 127.0.0.1 for tests that need HTTP over a socket.

Used by the Katana-client tests and the browser tests: the app is the real
one, on a temporary SQLite file (or a given URL), with a real API token.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

import tracelot.db.models  # noqa: F401
from support.schema import throwaway_sqlite_url
from tracelot.api.app import create_app
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, transaction
from tracelot.services.auth import create_token


@dataclass
class LiveServer:
    base_url: str
    token: str
    database_url: str
    app: object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(database_url: str | None = None) -> Iterator[LiveServer]:
    url = database_url or throwaway_sqlite_url("live.db")
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    app = create_app(engine=engine)
    with transaction(app.state.sessions) as s:
        token = create_token(s, "live-test")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", token, url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()

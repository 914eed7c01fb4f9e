"""What the app adds to a request: ``python -m bench.request_times [--db sqlite|postgresql]``.

Calls the ASGI app in-process (``await app(scope, receive, send)``: no socket, no
HTTP client) on a small W1 database (1,000 serials received), and prints the
median of each request kind: a serial's history, the location list and a 404,
which matches every route and runs no handler. Run it on two checkouts one after
the other to compare them on a noisy machine. Bounded: ``--calls`` per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from sqlalchemy import select

import tracelot.db.models  # noqa: F401
from bench.common import Sizes, pg_bench_server, sqlite_url
from bench.w1 import serial_receipt, set_up
from tracelot.api.app import create_app
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, make_sessionmaker, transaction
from tracelot.db.models import Serial
from tracelot.services import adjustments
from tracelot.services.auth import create_token


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.request_times", description=__doc__)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--calls", type=int, default=400)
    args = ap.parse_args()
    if args.db == "sqlite":
        measure(sqlite_url("requests"), args.calls)
        return
    server = pg_bench_server()
    try:
        measure(server.start(), args.calls)
    finally:
        server.stop()


def measure(url: str, calls: int) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    loc, _customer, serial_variant, _batch_variant = set_up(sessions)
    with transaction(sessions) as s:
        adjustments.create(s, serial_receipt(loc, serial_variant, Sizes(), 0), "bench")
        serial = s.scalars(select(Serial.id).limit(1)).one()
        token = create_token(s, "bench")
    engine.dispose()
    paths = [f"/v1/serial_numbers/{serial}/history", "/v1/locations", "/no/such/page"]
    asyncio.run(_time(create_app(url), token, paths, calls))


async def _time(app: Any, token: str, paths: list[str], calls: int) -> None:
    async with app.router.lifespan_context(app):
        for path in paths:
            for _ in range(30):  # untimed: each statement is built and compiled once
                await _get(app, token, path)
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                await _get(app, token, path)
                times.append((time.perf_counter() - started) * 1000)
            print(f"GET {path:36} median {statistics.median(times):.2f} ms")
    app.state.engine.dispose()


async def _get(app: Any, token: str, path: str) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if sent[0]["status"] not in (200, 404):
        raise RuntimeError(f"GET {path}: {sent[0]['status']}")


if __name__ == "__main__":
    main()

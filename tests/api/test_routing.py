"""The app's routes are one flat list, each /v1 route behind an API token.

FastAPI 0.137+ keeps an included router as a node that every request walks route
by route, twice; the app appends the routes themselves instead (``include_flat``).
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import event
from starlette.routing import Mount, Route

from tracelot.api import deps
from tracelot.api.deps import require_token


def test_every_route_is_matched_directly_by_the_app(app: Any) -> None:
    nodes = [r for r in app.routes if not isinstance(r, (APIRoute, Route, Mount))]
    assert nodes == []
    paths = {r.path for r in app.routes if isinstance(r, APIRoute)}
    assert {"/v1/sales_orders", "/v1/serial_numbers/{serial_id}/history", "/sell"} <= paths


def test_every_api_route_asks_for_a_token(app: Any) -> None:
    api = [r for r in app.routes if isinstance(r, APIRoute) and r.path.startswith("/v1/")]
    unguarded = [r.path for r in api if require_token not in [d.dependency for d in r.dependencies]]
    assert len(api) > 100
    assert unguarded == []


def test_a_request_without_a_token_is_refused(client: Any) -> None:
    r = client.get("/v1/sales_orders", headers={"Authorization": ""})
    assert r.status_code == 401
    assert r.json()["code"] == "UNAUTHORIZED"


def test_a_handler_commits_in_the_thread_it_ran_in(app: Any, client: Any, monkeypatch: Any) -> None:
    """No second worker thread for the commit (FastAPI runs the session's exit elsewhere)."""
    statements: set[int] = set()
    commits: list[int] = []
    client.get("/v1/locations")  # the token is known from here on: no look-up thread
    exit_threads: list[Any] = []

    async def counted(fn: Any, *args: Any) -> Any:
        exit_threads.append(fn)
        return fn(*args)

    monkeypatch.setattr(deps, "run_in_threadpool", counted)

    def on_statement(*_: Any) -> None:
        statements.add(threading.get_ident())

    def on_commit(*_: Any) -> None:
        commits.append(threading.get_ident())

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        r = client.post("/v1/locations", json={"name": "Dock 2"})
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    assert r.status_code < 300
    assert client.get("/v1/locations", params={"name": "Dock 2"}).json()["data"]
    assert len(statements) == 1
    assert commits == list(statements)
    assert exit_threads == []


def test_a_request_takes_one_worker_thread(client: Any, monkeypatch: Any) -> None:
    """The handler's thread, nothing more: FastAPI validated a plain ``def`` handler's
    response in a second worker thread (0.4-0.9 ms a request, ``bench.request_times``)."""
    import fastapi.routing
    from starlette.concurrency import run_in_threadpool

    client.get("/v1/locations")  # the token is known from here on: no look-up thread
    hops: list[Any] = []

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(fn)
        return await run_in_threadpool(fn, *args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "run_in_threadpool", counted)
    monkeypatch.setattr(deps, "_in_worker", counted, raising=False)
    assert client.get("/v1/locations").status_code == 200
    assert client.post("/v1/locations", json={"name": "Dock 3"}).status_code < 300
    assert len(hops) == 2

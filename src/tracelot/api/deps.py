"""Request plumbing shared by every router: sessions, the caller, filters, pages.

Each handler runs its use case through ``Db``: one session, one transaction,
committed before the response is built, rolled back on any refusal.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, SessionTransaction
from starlette.concurrency import run_in_threadpool
from starlette.concurrency import run_in_threadpool as _in_worker  # a handler's own hop

from tracelot.db.sql import AnySelect
from tracelot.domain import errors
from tracelot.services.auth import token_owner


@dataclass
class Caller:
    name: str


READS = ("GET", "HEAD")  # requests that change nothing: a read session (SQLite: no lock)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session in a transaction that commits when the handler returns normally;
    a read session's for a GET (``make_sessionmaker(read_only=True)``).

    Opening it does no I/O (the connection is taken by the handler's first
    statement, in the handler's thread), so it needs no worker thread. A plain
    ``def`` handler of ``api_router`` commits in its own thread (``commits``), so
    here the session only closes, again without I/O. What is left here (a
    refusal's rollback, an ``async`` handler's commit) runs in a worker thread,
    but on SQLite: a writer holds the write lock from BEGIN IMMEDIATE on and a
    reader takes none, so it waits for nobody (no network, no lock), cheaper
    than the thread hop.
    """
    state = request.app.state
    session = (state.read_sessions if request.method in READS else state.sessions)()
    tx = session.begin()
    try:
        yield session
    except BaseException:
        await _finish(request, session, tx, False)
        raise
    await _finish(request, session, tx, True)


async def _finish(request: Request, session: Session, tx: SessionTransaction, commit: bool) -> None:
    if not tx.is_active:
        _end(session, tx, commit)  # committed in the handler's thread: only a close
    else:
        await near_the_data(request, _end, session, tx, commit)


async def near_the_data(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, a short piece of database work outside a handler that never waits
    for a pooled connection (closing a session, say): on the event loop on SQLite (a
    file, no network and, for a reader, no lock: cheaper than a worker thread), in a
    worker thread on PostgreSQL (a network round trip)."""
    if request.app.state.engine.dialect.name == "sqlite":
        return fn(*args)
    return await run_in_threadpool(fn, *args)


def _end(session: Session, tx: SessionTransaction, commit: bool) -> None:
    try:
        if tx.is_active:
            (tx.commit if commit else tx.rollback)()
    finally:
        session.close()


def commits(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` run in a worker thread that also commits its ``Db`` session, as one
    ``async`` endpoint: one worker thread per request.

    For a plain ``def`` handler FastAPI takes a worker thread to run it, runs the
    session's exit on the event loop (a commit there took a second worker thread
    on PostgreSQL: 1.1-1.7 ms a request, ``bench.request_times --db postgresql``),
    and validates the response in yet another worker thread. An ``async`` endpoint
    has its response validated on the event loop; the handler still runs in a
    thread, so a slow statement never blocks the loop.
    """
    if inspect.iscoroutinefunction(handler):
        return handler

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await _in_worker(_run_and_commit, handler, args, kwargs)

    return run


def _run_and_commit(handler: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    result = handler(*args, **kwargs)
    for value in kwargs.values():
        if isinstance(value, Session) and value.in_transaction():
            value.commit()
    return result


class _ApiRouter(APIRouter):
    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, commits(endpoint), **kwargs)


async def require_token(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Bearer tokens issued by ``tracelot token create``; known ones are cached.

    A known token costs no worker thread; an unknown one is looked up in one.
    """
    token = (authorization or "").removeprefix("Bearer ").strip()
    cache: dict[str, str] = request.app.state.tokens
    name = cache.get(token)
    if name is None and token:
        name = await run_in_threadpool(_lookup, request.app.state.read_sessions, token)
        if name:
            cache[token] = name
    if not name:
        raise errors.TracelotError(
            "UNAUTHORIZED",
            "Missing or unknown API token: send 'Authorization: Bearer "
            "<token>' with a token from 'tracelot token create'.",
            status=401,
        )
    request.state.caller = name


def _lookup(sessions: Any, token: str) -> str | None:
    with sessions() as session:
        return token_owner(session, token)


def api_router(tag: str) -> APIRouter:
    """A router of the Katana-compatible API: under /v1, behind an API token; its
    handlers commit in their own thread (``commits``)."""
    return _ApiRouter(prefix="/v1", tags=[tag], dependencies=[Depends(require_token)])


def get_caller(request: Request) -> Caller:
    return Caller(getattr(request.state, "caller", "api"))


async def _caller(request: Request) -> Caller:
    return get_caller(request)  # no I/O: on the event loop, not in a worker thread


# scope="function": the transaction commits before the response is sent, so a client
# never sees 200 for a change that then fails to commit, nor reads ahead of it.
Db = Annotated[Session, Depends(get_session, scope="function")]
Who = Annotated[Caller, Depends(_caller)]

COMMON_FILTERS = {
    "ids",
    "limit",
    "page",
    "include_deleted",
    "created_at_min",
    "created_at_max",
    "updated_at_min",
    "updated_at_max",
}


def allow_filters(*names: str, records: bool = True) -> Any:
    """Refuse query parameters the endpoint does not apply (Katana ignores them).

    ``records=False``: a list that is not a table of records, where ids and date
    filters would mean nothing; only its paging and ``names`` apply.
    """
    allowed = (COMMON_FILTERS if records else {"limit", "page"}) | set(names)

    async def check(request: Request) -> None:  # no I/O: on the event loop
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise errors.refuse(
                errors.UNSUPPORTED_FILTER,
                f"Filter '{unknown[0]}' is not supported here; supported: "
                f"{', '.join(sorted(allowed))}.",
                path=unknown[0],
            )

    return Depends(check)


@dataclass
class Page:
    limit: int
    page: int


async def get_page(
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Page:
    """No I/O, so on the event loop: a plain ``def`` would cost a worker thread hop."""
    return Page(limit, page)


Paging = Annotated[Page, Depends(get_page)]


def paginate(
    session: Session, query: AnySelect, paging: Page, response: Response, *, scalars: bool = True
) -> list[Any]:
    """Run one page of ``query`` and set Katana's X-Pagination header."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    total = int(total or 0)
    pages = max(1, math.ceil(total / paging.limit))
    offset = (paging.page - 1) * paging.limit
    response.headers["X-Pagination"] = json.dumps(
        {
            "total_records": str(total),
            "total_pages": str(pages),
            "offset": str(offset),
            "page": str(paging.page),
            "first_page": str(paging.page == 1).lower(),
            "last_page": str(paging.page >= pages).lower(),
        }
    )
    result = session.execute(query.limit(paging.limit).offset(offset))
    return list(result.scalars() if scalars else result.all())


def common_filters(query: AnySelect, model: Any, request: Request) -> AnySelect:
    """ids, created/updated ranges and include_deleted, for any model that has them."""
    params = request.query_params
    ids = params.getlist("ids")
    if ids:
        query = query.where(model.id.in_([int(float(i)) for i in ids]))
    for key, op in (
        ("created_at_min", "__ge__"),
        ("created_at_max", "__le__"),
        ("updated_at_min", "__ge__"),
        ("updated_at_max", "__le__"),
    ):
        if key in params and hasattr(model, key[:10]):
            from tracelot.api.serialize import parse_datetime

            col = getattr(model, key[:10])
            query = query.where(getattr(col, op)(parse_datetime(params[key], key)))
    if hasattr(model, "deleted_at") and params.get("include_deleted") != "true":
        query = query.where(model.deleted_at.is_(None))
    return query

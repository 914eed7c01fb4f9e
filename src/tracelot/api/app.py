"""The FastAPI application: Katana-compatible API under /v1, web pages at /."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from tracelot.api import errors as api_errors
from tracelot.db.engine import make_engine, make_sessionmaker
from tracelot.domain import errors
from tracelot.services.auth import token_owner
from tracelot.settings import get_settings


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
        name = await run_in_threadpool(_lookup, request.app.state.sessions, token)
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


def create_app(database_url: str | None = None, engine: Engine | None = None) -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="tracelot",
        version="0.1.0",
        description="Batch and serial traceability; Katana-compatible API under /v1.",
    )
    app.state.engine = engine or make_engine(database_url or settings.database_url)
    app.state.sessions = make_sessionmaker(app.state.engine)
    app.state.tokens = {}
    app.state.settings = settings
    api_errors.install(app)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])
    from tracelot.api.routes import ROUTERS, sales

    # Routes are matched in order, one by one: the sales router first, so the requests
    # that come most often (orders and fulfilments from stores and packing benches)
    # do not walk the other hundred routes. No other router serves a /sales_order path.
    for router in sorted(ROUTERS, key=lambda r: r is not sales.router):
        v1.include_router(router)
    app.include_router(v1)
    _mount_web(app)
    return app


def _mount_web(app: FastAPI) -> None:
    """The web pages, when that package provides them."""
    try:
        from tracelot.web.app import mount  # type: ignore[attr-defined]
    except ImportError:
        return
    mount(app)

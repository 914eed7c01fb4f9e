"""The FastAPI application: Katana-compatible API under /v1, web pages at /."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from tracelot.api import errors as api_errors
from tracelot.db.engine import make_engine, make_sessionmaker
from tracelot.settings import get_settings


def create_app(database_url: str | None = None, engine: Engine | None = None) -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="tracelot",
        version="0.1.0",
        description="Batch and serial traceability; Katana-compatible API under /v1.",
    )
    app.state.engine = engine or make_engine(database_url or settings.database_url)
    app.state.sessions = make_sessionmaker(app.state.engine)
    app.state.read_sessions = make_sessionmaker(app.state.engine, read_only=True)
    app.state.tokens = {}
    app.state.settings = settings
    api_errors.install(app)
    from tracelot.api.routes import ROUTERS, sales

    # Routes are matched in order, one by one: the sales router first, so the requests
    # that come most often (orders and fulfilments from stores and packing benches)
    # do not walk the other hundred routes. No other router serves a /sales_order path.
    include_flat(app, sorted(ROUTERS, key=lambda r: r is not sales.router))
    _mount_web(app)
    return app


def include_flat(app: FastAPI, routers: list[APIRouter]) -> None:
    """Append the routers' routes to the app's own list, as ``@app.get`` would.

    Since FastAPI 0.137, ``include_router`` keeps each router as a node that every
    request walks, route by route, twice (to match, then to handle): up to 1.4 ms
    a request with our routes on a slow machine (docs/performance.md). Our routers
    carry their prefix and guards themselves (``deps.api_router``,
    ``web.deps.signed_in_router``), so their routes are complete as they are.
    """
    for router in routers:
        app.router.routes.extend(router.routes)


def _mount_web(app: FastAPI) -> None:
    """The web pages, when that package provides them."""
    try:
        from tracelot.web.app import mount  # type: ignore[attr-defined]
    except ImportError:
        return
    mount(app)

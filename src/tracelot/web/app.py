"""The web app: server-rendered pages at /, next to the API at /v1.

``mount(app)`` is called by ``tracelot.api.app.create_app``. Pages call the
services for every write; reads for lists and cards are plain queries in
``tracelot.web.queries``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from tracelot.web.render import HERE
from tracelot.web.session import CsrfRefused, LoginRequired


def mount(app: FastAPI) -> None:
    from tracelot.api.app import include_flat
    from tracelot.web.pages import PAGES

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    include_flat(app, PAGES)
    app.add_exception_handler(LoginRequired, _to_login)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRefused, _csrf_refused)  # type: ignore[arg-type]


async def _to_login(request: Request, _exc: LoginRequired) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/"
    return RedirectResponse(f"/login?next={target}", status_code=303)


async def _csrf_refused(_request: Request, _exc: CsrfRefused) -> PlainTextResponse:
    return PlainTextResponse(
        "The form was stale or not sent from tracelot (missing CSRF "
        "token): reload the page and try again.",
        status_code=403,
    )

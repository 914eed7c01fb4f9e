"""Screens whose services are not in yet: a plain page saying what will be here."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from tracelot.web.deps import signed_in_router
from tracelot.web.render import page as render

router = signed_in_router()
SOON = {"make": "Manufacturing orders", "buy": "Purchase orders"}


def _soon(key: str) -> object:
    def view(request: Request) -> Response:
        return render(request, "soon.html", key, title=SOON[key])

    return view


for _key in SOON:
    router.add_api_route(f"/{_key}", _soon(_key), methods=["GET"])

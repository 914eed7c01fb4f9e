"""Stock: batches and serial numbers tabs, each batch's and serial's own page."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from markupsafe import Markup
from starlette.responses import Response

from tracelot.services import tracing
from tracelot.web import queries, trace_svg
from tracelot.web.deps import Db, signed_in_router
from tracelot.web.paging import PAGE_SIZE, Pager, paged, url_maker
from tracelot.web.render import page as render

router = signed_in_router()
STATUSES = ["in_stock", "reserved", "in_transit", "delivered", "consumed", "removed"]


@router.get("/stock")
def stock(
    request: Request,
    db: Db,
    tab: str = "batches",
    q: str = "",
    status: str = "",
    location: str = "",
    show_empty: bool = False,
    page: int = 1,
) -> Response:
    loc = int(location) if location.isdigit() else None
    if tab == "serials":
        pager = paged(db, queries.serial_list(q, status, loc), page)
    else:
        tab = "batches"
        pager = paged(db, queries.batch_stock(q, show_empty, loc), page)
    return render(
        request,
        "stock.html",
        "stock",
        tab=tab,
        pager=pager,
        q=q,
        status=status,
        location=loc,
        show_empty=show_empty,
        statuses=STATUSES,
        locations=queries.locations(db),
        url=url_maker(request),
    )


def _picture(db: Db, nodes: list[tracing.Node], forward: tracing.Trace | None = None) -> Markup:
    """The trace picture of the first page of each direction (a recall may reach 100,000
    units; the picture stays readable), saying how much more there is."""
    forward = forward or tracing.trace(db, nodes, "forward")
    backward = tracing.trace(db, nodes, "backward")
    picture = trace_svg.render(forward, backward)
    hidden = sum(t.totals["nodes"] - len(t.nodes) for t in (forward, backward))
    if hidden > 0:
        picture += Markup(
            '<p class="muted" id="trace-more">{} more batches and serials are '
            "reached: the recall report lists them all.</p>"
        ).format(hidden)
    return picture


def _shipments(
    db: Db, nodes: list[tracing.Node], page: int, url: Any
) -> tuple[tracing.Trace, Pager, Any]:
    """One page of the forward trace's shipments with its pager (``ship_page``)."""
    forward = tracing.trace(db, nodes, "forward", limit=PAGE_SIZE, page=max(1, page))
    total = int(forward.totals.get("events", 0))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    pager = Pager(forward.events, min(max(1, page), pages), pages, total, PAGE_SIZE)
    return forward, pager, lambda page: url(ship_page=page)


@router.get("/stock/batches/{batch_id}")
def batch_page(
    request: Request, db: Db, batch_id: int, page: int = 1, ship_page: int = 1
) -> Response:
    card = queries.batch_card(db, batch_id)
    if card is None:
        return render(request, "missing.html", "stock", what=f"Batch {batch_id}", status_code=404)
    nodes = [tracing.Node(batch_id=batch_id)]
    url = url_maker(request)
    forward, shipped, ship_url = _shipments(db, nodes, ship_page, url)
    return render(
        request,
        "batch.html",
        "stock",
        card=card,
        batch=card.Batch,
        where=queries.batch_locations(db, batch_id),
        moves=paged(db, queries.batch_movements(batch_id), page),
        shipments=shipped.rows,
        shipped=shipped,
        ship_url=ship_url,
        picture=_picture(db, nodes, forward),
        url=url,
    )


@router.get("/stock/serials/{serial_id}")
def serial_page(request: Request, db: Db, serial_id: int) -> Response:
    serial = db.get(tracing.Serial, serial_id)
    if serial is None:
        return render(
            request, "missing.html", "stock", what=f"Serial number {serial_id}", status_code=404
        )
    history = tracing.serial_history(db, serial)
    return render(
        request,
        "serial.html",
        "stock",
        serial=serial,
        history=history,
        picture=_picture(db, [tracing.Node(serial_id=serial_id)]),
    )

"""Stock: batches and serial numbers tabs, each batch's and serial's own page."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from tracelot.services import tracing
from tracelot.web import queries, trace_svg
from tracelot.web.deps import Db, signed_in_router
from tracelot.web.paging import paged, url_maker
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


def _picture(db: Db, nodes: list[tracing.Node]) -> object:
    return trace_svg.render(
        tracing.trace(db, nodes, "forward"), tracing.trace(db, nodes, "backward")
    )


@router.get("/stock/batches/{batch_id}")
def batch_page(request: Request, db: Db, batch_id: int, page: int = 1) -> Response:
    card = queries.batch_card(db, batch_id)
    if card is None:
        return render(request, "missing.html", "stock", what=f"Batch {batch_id}", status_code=404)
    nodes = [tracing.Node(batch_id=batch_id)]
    forward = tracing.trace(db, nodes, "forward")
    return render(
        request,
        "batch.html",
        "stock",
        card=card,
        batch=card.Batch,
        where=queries.batch_locations(db, batch_id),
        moves=paged(db, queries.batch_movements(batch_id), page),
        shipments=forward.events,
        picture=trace_svg.render(forward, tracing.trace(db, nodes, "backward")),
        url=url_maker(request),
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

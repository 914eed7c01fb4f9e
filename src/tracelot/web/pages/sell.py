"""Sell: the sales order list (with the Tracing column), one order, bulk pack/deliver."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from tracelot.db.models import SalesOrder
from tracelot.services import fulfillments, picking, sales
from tracelot.services.common import get
from tracelot.web import sales_queries as sq
from tracelot.web.deps import Db, User, signed_in_router, write
from tracelot.web.paging import paged, url_maker
from tracelot.web.render import HOLDER_PAGES
from tracelot.web.render import page as render

router = signed_in_router()
HOLDER_PAGES["SalesOrderRow"] = lambda row_id: f"/sell/rows/{row_id}"


@router.get("/sell")
def order_list(
    request: Request,
    db: Db,
    q: str = "",
    status: str = "",
    tracing: str = "",
    channel: str = "",
    page: int = 1,
    done: str = "",
) -> Response:
    filters = (q, status, tracing, channel)
    pager = paged(db, sq.order_list(*filters), page, count=sq.order_count(*filters))
    return render(
        request,
        "sell.html",
        "sell",
        pager=pager,
        q=q,
        status=status,
        tracing=tracing,
        channel=channel,
        statuses=sq.STATUSES,
        channels=sq.channels(db),
        url=url_maker(request),
        flash=done or None,
    )


def pack(session: Session, order: SalesOrder, actor: str) -> None:
    """Pack every unshipped quantity; short serial rows keep their warning (SPEC §3)."""
    rows = sales.live_rows(session, order.id)
    ship = sales.shipping(session, rows)
    left = [
        {"sales_order_row_id": r.id, "quantity": r.quantity - ship[r.id].shipped}
        for r in rows
        if r.quantity > ship[r.id].shipped
    ]
    if left:
        fulfillments.create(
            session,
            {"sales_order_id": order.id, "status": "PACKED", "sales_order_fulfillment_rows": left},
            actor,
        )


ACTIONS = {"pack": pack, "deliver": fulfillments.deliver}


def _run(request: Request, db: Db, order_id: int, action: str, actor: str) -> str | None:
    """One order's action in its own transaction; the refusal's message, or None."""
    fn = ACTIONS.get(action)
    if fn is None:
        return f"Unknown action '{action}'."
    _, err = write(request, db, lambda s: fn(s, get(s, SalesOrder, order_id), actor))
    return err.message if err else None


@router.post("/sell/bulk")
def bulk(
    request: Request,
    db: Db,
    user: User,
    action: Annotated[str, Form()],
    ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    """Pack or deliver the selected orders; each order all or nothing, results reported."""
    failed = [f"{i}: {m}" for i in ids or [] if (m := _run(request, db, i, action, user))]
    done = f"{len(ids or []) - len(failed)} order(s) {action}ed."
    if failed:
        done += " Not done: " + " ".join(failed)
    return RedirectResponse(f"/sell?done={done}", status_code=303)


@router.get("/sell/{order_id}")
def order_page(
    request: Request, db: Db, order_id: int, done: str = "", error: str = ""
) -> Response:
    head = sq.order_header(db, order_id)
    if head is None:
        return render(
            request, "missing.html", "sell", what=f"Sales order {order_id}", status_code=404
        )
    rows = sq.order_rows(db, order_id)
    proposals = {r.SalesOrderRow.id: _proposal(db, r) for r in rows if r.tracking == "batch"}
    return render(
        request,
        "order.html",
        "sell",
        order=head.SalesOrder,
        head=head,
        rows=rows,
        picks=sq.batch_picks(db, [r.SalesOrderRow.id for r in rows]),
        proposals=proposals,
        flash=done or None,
        error=error or None,
    )


def _proposal(db: Db, r: Any) -> Any:
    try:
        return picking.row_proposal(db, r.SalesOrderRow)
    except Exception:  # a proposal is advice; the page still shows without it
        return None


@router.post("/sell/{order_id}/action")
def order_action(
    request: Request, db: Db, user: User, order_id: int, action: Annotated[str, Form()]
) -> Response:
    if action == "revert":
        _, err = write(
            request, db, lambda s: fulfillments.revert(s, get(s, SalesOrder, order_id), user)
        )
        message = err.message if err else None
    else:
        message = _run(request, db, order_id, action, user)
    if message:
        return order_page(request, db, order_id, error=message)
    return RedirectResponse(f"/sell/{order_id}?done=Done: {action}.", status_code=303)

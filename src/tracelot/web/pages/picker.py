"""The serial picker and batch picks of a sales row (JSON for our own fetch() calls).

Searching and scanning run on the server (``services.picking.serial_picker``,
index-served), so the picker answers the same with 100 or 100,000 serials.
Done sends the whole selection; the server works out what to assign and
release, or, on a delivered order, runs revert-assign-deliver as one step.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Body, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from tracelot.db.models import SalesOrder, SalesOrderRow, Serial
from tracelot.domain.errors import TracelotError
from tracelot.services import fulfillments, picking, sales
from tracelot.services.common import get
from tracelot.web.deps import Db, User, signed_in_router, write
from tracelot.web.paging import PICKER_LISTED, picker_limit

router = signed_in_router()


def _row(db: Session, row_id: int) -> SalesOrderRow | None:
    row = db.get(SalesOrderRow, row_id)
    return row if row is not None and row.deleted_at is None else None


def _serial(s: Serial) -> dict[str, Any]:
    return {"id": s.id, "number": s.serial_number}


@router.get("/sell/rows/{row_id}")
def row_page(db: Db, row_id: int) -> Response:
    row = _row(db, row_id)
    target = f"/sell/{row.sales_order_id}#row-{row_id}" if row else "/sell"
    return RedirectResponse(target, status_code=303)


@router.get("/sell/rows/{row_id}/serials")
def serials(
    db: Db, row_id: int, q: str = "", scan: str = "", limit: int = PICKER_LISTED
) -> JSONResponse:
    row = _row(db, row_id)
    if row is None:
        return JSONResponse({"error": f"Sales order row {row_id} does not exist."})
    most = picker_limit(limit, math.ceil(row.quantity))
    try:
        found = picking.serial_picker(db, row, q=q or None, scan=scan or None, limit=most)
    except TracelotError as exc:  # a bad scan is an answer for the packer, not a failure
        return JSONResponse({"error": exc.message, "free": [], "held": []})
    return JSONResponse(
        {
            "free": [_serial(s) for s in found.serials],
            "held": [_serial(s) for s in found.held_here],
            "scanned": found.scanned,
            "quantity": int(row.quantity),
            "assigned": int(row.traced_quantity),
        }
    )


def save_selection(session: Session, row_id: int, wanted: list[int], actor: str) -> str:
    """Assign what is new, release what was unticked; a delivered order is reverted first."""
    row = session.get(SalesOrderRow, row_id)
    assert row is not None
    order = session.get(SalesOrder, row.sales_order_id)
    assert order is not None
    held = set(
        session.scalars(
            select(Serial.id).where(Serial.holder_type == sales.ROW, Serial.holder_id == row.id)
        )
    )
    new = [i for i in dict.fromkeys(wanted) if i not in held]
    if order.status == "DELIVERED":
        fulfillments.revert_assign_deliver(
            session, order, [{"sales_order_row_id": row.id, "serial_numbers": new}], actor
        )
        return f"Reverted, assigned {len(new)} serial(s) and delivered {order.order_no} again."
    gone = [i for i in held if i not in set(wanted)]
    if gone:
        sales.release_row_serials(session, row, gone, actor, path="serial_ids")
    if new:
        sales.assign_serials(session, row, new, actor, path="serial_ids")
    return f"{int(row.traced_quantity)} of {int(row.quantity)} assigned."


@router.post("/sell/rows/{row_id}/serials")
def save(
    request: Request,
    db: Db,
    user: User,
    row_id: int,
    serial_ids: Annotated[list[int], Body(embed=True)],
) -> JSONResponse:
    if _row(db, row_id) is None:
        return JSONResponse({"ok": False, "error": f"Sales order row {row_id} is gone."})
    message, err = write(request, db, lambda s: save_selection(s, row_id, serial_ids, user))
    if err:
        return JSONResponse({"ok": False, "error": err.message})
    return JSONResponse({"ok": True, "message": message})


@router.post("/sell/rows/{row_id}/batches")
def save_batches(
    request: Request,
    db: Db,
    user: User,
    row_id: int,
    batch_id: Annotated[list[int], Form()],
    quantity: Annotated[list[str], Form()],
) -> Response:
    """The user's batch choice for a row (the page pre-fills the FEFO proposal)."""
    row = _row(db, row_id)
    if row is None:
        return RedirectResponse("/sell", status_code=303)
    order_id = row.sales_order_id
    picks = [
        {"batch_id": b, "quantity": Decimal(q or 0)}
        for b, q in zip(batch_id, quantity, strict=False)
        if q and Decimal(q) > 0
    ]
    _, err = write(
        request,
        db,
        lambda s: sales.set_batch_picks(
            s, get(s, SalesOrderRow, row_id), picks, user, path="quantity"
        ),
    )
    if err:
        from tracelot.web.pages.sell import order_page

        return order_page(request, db, order_id, error=err.message)
    return RedirectResponse(f"/sell/{order_id}?done=Batches saved.", status_code=303)

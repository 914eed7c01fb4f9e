"""Serial numbers: links to documents, stock and full history."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request, Response
from pydantic import Field
from sqlalchemy import select

from tracelot.api.deps import Db, Paging, Who, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import In
from tracelot.api.serialize import clean, iso
from tracelot.db.models import Serial, SerialTransaction
from tracelot.services import serials, tracking

router = api_router("serial numbers")

RESOURCE_TYPES = Literal[
    "ManufacturingOrder",
    "Production",
    "PurchaseOrderRow",
    "SalesOrderRow",
    "SalesOrderFulfillmentRow",
    "StockAdjustmentRow",
    "StockTransferRow",
]


class SerialLinkIn(In):
    resource_id: int = Field(ge=1)
    resource_type: RESOURCE_TYPES | None = None
    serial_numbers: list[str] = Field(default_factory=list, max_length=100_000)


class SerialUnlinkIn(In):
    resource_id: int = Field(ge=1)
    resource_type: RESOURCE_TYPES
    ids: list[int] = Field(min_length=1)


def link_out(t: SerialTransaction, number: str) -> dict[str, Any]:
    return clean(
        {
            "id": t.serial_id,
            "transaction_id": t.id,
            "serial_number": number,
            "resource_type": t.resource_type,
            "resource_id": t.resource_id,
            "transaction_date": iso(t.transaction_date),
            "quantity_change": t.quantity_change,
        }
    )


@router.get("/serial_numbers", dependencies=[allow_filters("resource_type", "resource_id")])
def list_links(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    resource_type: str | None = None,
    resource_id: int | None = None,
) -> dict[str, Any]:
    q = (
        select(SerialTransaction, Serial.serial_number)
        .join(Serial, Serial.id == SerialTransaction.serial_id)
        .where(SerialTransaction.is_active.is_(True))
        .order_by(SerialTransaction.id.desc())
    )
    if resource_type:
        q = q.where(SerialTransaction.resource_type == resource_type)
    if resource_id:
        q = q.where(SerialTransaction.resource_id == resource_id)
    ids = request.query_params.getlist("ids")
    if ids:
        q = q.where(SerialTransaction.serial_id.in_([int(float(i)) for i in ids]))
    rows = paginate(db, q, paging, response, scalars=False)
    return {"data": [link_out(t, n) for t, n in rows]}


@router.post("/serial_numbers", response_model=None)
def create_links(body: SerialLinkIn, db: Db, who: Who) -> dict[str, Any] | Response:
    if body.resource_type is None:
        return Response(status_code=204)
    ids = serials.link(db, body.resource_type, body.resource_id, body.serial_numbers, who.name)
    q = (
        select(SerialTransaction, Serial.serial_number)
        .join(Serial, Serial.id == SerialTransaction.serial_id)
        .where(
            SerialTransaction.resource_type == body.resource_type,
            SerialTransaction.resource_id == body.resource_id,
            SerialTransaction.serial_id.in_(ids),
            SerialTransaction.is_active.is_(True),
        )
        .order_by(SerialTransaction.id)
    )
    latest: dict[int, Any] = {}
    for t, n in db.execute(q):
        latest[t.serial_id] = link_out(t, n)
    return {"successful": [latest[i] for i in ids if i in latest], "failed": []}


@router.delete("/serial_numbers", status_code=204)
def delete_links(body: SerialUnlinkIn, db: Db, who: Who) -> Response:
    serials.unlink(db, body.resource_type, body.resource_id, body.ids, who.name)
    return Response(status_code=204)


def _stock_list(request: Request, response: Response, db: Db, paging: Paging) -> dict[str, Any]:
    q = common_filters(select(Serial).order_by(Serial.id.desc()), Serial, request)
    params = request.query_params
    for key in ("variant_id", "location_id"):
        if key in params:
            q = q.where(getattr(Serial, key) == int(params[key]))
    if "status" in params:
        q = q.where(Serial.status == params["status"])
    if "serial_number" in params:
        q = q.where(Serial.serial_number == params["serial_number"])
    rows = paginate(db, q, paging, response)
    history: dict[int, list[dict[str, Any]]] = {s.id: [] for s in rows}
    if rows:
        txs = db.scalars(
            select(SerialTransaction)
            .where(SerialTransaction.serial_id.in_(list(history)))
            .order_by(SerialTransaction.id)
        )
        for t in txs:
            history[t.serial_id].append(
                clean(
                    {
                        "id": str(t.id),
                        "resource_type": t.resource_type,
                        "resource_id": str(t.resource_id),
                        "quantity_change": t.quantity_change,
                        "transaction_date": iso(t.transaction_date),
                    }
                )
            )
    return {
        "data": [
            clean(
                {
                    "id": s.id,
                    "serial_number": s.serial_number,
                    "in_stock": s.status in ("in_stock", "reserved"),
                    "status": s.status,
                    "variant_id": s.variant_id,
                    "location_id": s.location_id,
                    "holder_type": s.holder_type,
                    "holder_id": s.holder_id,
                    "hold_reason": s.hold_reason,
                    "transactions": history[s.id],
                }
            )
            for s in rows
        ]
    }


STOCK_FILTERS = allow_filters("variant_id", "location_id", "status", "serial_number")


@router.get("/serial_numbers_stock", dependencies=[STOCK_FILTERS])
def serial_stock(request: Request, response: Response, db: Db, paging: Paging) -> dict[str, Any]:
    return _stock_list(request, response, db, paging)


@router.get("/serial_numbers/serial_numbers_stock", dependencies=[STOCK_FILTERS])
def serial_stock_alias(
    request: Request, response: Response, db: Db, paging: Paging
) -> dict[str, Any]:
    return _stock_list(request, response, db, paging)


@router.get("/serial_gaps", dependencies=[allow_filters("item_id")])
def serial_gaps(db: Db, item_id: int | None = None) -> dict[str, Any]:
    """Units of serial-tracked items on hand but not connected to a serial (tracelot)."""
    gaps = tracking.serial_gaps(db, [item_id] if item_id else None)
    return {
        "data": [
            {
                **g,
                "quantity_in_stock": str(g["quantity_in_stock"]),
                "missing_serial_numbers": int(g["missing_serial_numbers"]),
            }
            for g in gaps
        ]
    }

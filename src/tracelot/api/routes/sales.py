"""Sales orders, rows, fulfilments, the serial picker and the batch proposal (Katana shapes)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import select

from tracelot.api.deps import Db, Paging, Who, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import BatchTransactionIn, In, TraceabilityIn
from tracelot.api.serialize import clean, dec, iso, num
from tracelot.db.models import (
    BatchPick,
    SalesOrder,
    SalesOrderFulfillment,
    SalesOrderFulfillmentRow,
    SalesOrderRow,
    Serial,
    SerialTransaction,
)
from tracelot.services import fulfillments, picking, sales
from tracelot.services.common import get

router = api_router("sales orders")


class RowIn(In):
    variant_id: int = Field(ge=1)
    quantity: Decimal
    price_per_unit: Decimal | None = None
    location_id: int | None = Field(default=None, ge=1)
    fulfilment: Literal["stock", "order"] | None = None


class OrderIn(In):
    customer_id: int = Field(ge=1)
    sales_order_rows: list[RowIn] = Field(min_length=1)
    location_id: int | None = Field(default=None, ge=1)
    order_no: str | None = Field(default=None, max_length=64)
    status: str | None = None
    order_created_date: datetime | None = None
    delivery_date: datetime | None = None
    customer_ref: str | None = Field(default=None, max_length=128)
    additional_info: str | None = None
    currency: str | None = Field(default=None, max_length=3)
    ecommerce_order_type: str | None = Field(default=None, max_length=32)
    ecommerce_store_name: str | None = Field(default=None, max_length=128)
    ecommerce_order_id: str | int | None = None


class OrderPatch(In):
    order_no: str | None = Field(default=None, max_length=64)
    customer_id: int | None = Field(default=None, ge=1)
    location_id: int | None = Field(default=None, ge=1)
    status: str | None = None
    delivery_date: datetime | None = None
    customer_ref: str | None = Field(default=None, max_length=128)
    additional_info: str | None = None
    currency: str | None = Field(default=None, max_length=3)


class RowCreate(RowIn):
    sales_order_id: int = Field(ge=1)


class SerialTxIn(In):
    serial_number_id: int = Field(ge=1)
    quantity: Literal[0, 1] = 1


class RowPatch(In):
    quantity: Decimal | None = None
    price_per_unit: Decimal | None = None
    location_id: int | None = Field(default=None, ge=1)
    fulfilment: Literal["stock", "order"] | None = None
    serial_number_transactions: list[SerialTxIn] | None = None
    serial_numbers: list[str] | None = None
    batch_transactions: list[BatchTransactionIn] | None = None
    traceability: list[TraceabilityIn] | None = None
    allow_expired: bool = False


class FulfilmentRowIn(In):
    sales_order_row_id: float = Field(ge=1)
    quantity: Decimal | None = None
    serial_numbers: list[float] = Field(default_factory=list)
    serial_number_strings: list[str] = Field(default_factory=list)
    traceability: list[TraceabilityIn] = Field(default_factory=list)
    batch_transactions: list[BatchTransactionIn] = Field(default_factory=list)


class FulfilmentIn(In):
    sales_order_id: int = Field(ge=1)
    status: Literal["PACKED", "DELIVERED"]
    sales_order_fulfillment_rows: list[FulfilmentRowIn] = Field(min_length=1)
    picked_date: datetime | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    tracking_carrier: str | None = None
    tracking_method: str | None = None
    allow_expired: bool = False


class FulfilmentPatch(In):
    status: Literal["PACKED", "DELIVERED"] | None = None
    picked_date: datetime | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    tracking_carrier: str | None = None
    tracking_method: str | None = None


class RevertIn(In):
    status: Literal["PACKED", "NOT_SHIPPED"] = "NOT_SHIPPED"


class AssignRowIn(In):
    sales_order_row_id: float = Field(ge=1)
    serial_numbers: list[float] = Field(default_factory=list)
    serial_number_strings: list[str] = Field(default_factory=list)
    batch_transactions: list[BatchTransactionIn] = Field(default_factory=list)


class RevertAssignDeliverIn(In):
    rows: list[AssignRowIn] = Field(default_factory=list)


# --- shapes ------------------------------------------------------------


def rows_out(db: Db, rows: list[SalesOrderRow]) -> list[dict[str, Any]]:
    """Rows with their held serials and batch picks (three queries for any number of rows)."""
    ids = [r.id for r in rows]
    held: dict[int, list[int]] = defaultdict(list)
    for hid, sid in db.execute(
        select(Serial.holder_id, Serial.id)
        .where(Serial.holder_type == sales.ROW, Serial.holder_id.in_(ids))
        .order_by(Serial.id)
    ):
        if hid is not None:
            held[hid].append(sid)
    picks: dict[int, list[tuple[int | None, Decimal]]] = defaultdict(list)
    for p in db.scalars(
        select(BatchPick).where(
            BatchPick.resource_type == sales.ROW, BatchPick.resource_id.in_(ids)
        )
    ):
        picks[p.resource_id].append((p.batch_id, p.quantity))
    return [_row_dict(r, held[r.id], picks[r.id]) for r in rows]


def _row_dict(
    r: SalesOrderRow, held: list[int], picks: list[tuple[int | None, Decimal]]
) -> dict[str, Any]:
    return clean(
        {
            "id": r.id,
            "sales_order_id": r.sales_order_id,
            "variant_id": r.variant_id,
            "quantity": num(r.quantity),
            "price_per_unit": dec(r.price_per_unit),
            "total": float(r.price_per_unit * r.quantity) if r.price_per_unit is not None else None,
            "location_id": r.location_id,
            "fulfilment": r.fulfilment,
            "linked_manufacturing_order_id": r.linked_manufacturing_order_id,
            "serial_numbers": held,
            "serial_number_transactions": [{"serial_number_id": s, "quantity": 1} for s in held],
            "batch_transactions": [{"batch_id": b, "quantity": float(q)} for b, q in picks],
            "attributes": [],
            "missing_serial_numbers": r.missing_serial_numbers,
            "tracing_status": r.tracing_status,
            "traced_quantity": num(r.traced_quantity),
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
            "deleted_at": iso(r.deleted_at),
        }
    )


def orders_out(db: Db, orders: list[SalesOrder]) -> list[dict[str, Any]]:
    """Orders with their rows: three queries for a page of any size (rows, serials, picks)."""
    if not orders:
        return []
    rows = list(
        db.scalars(
            select(SalesOrderRow)
            .where(
                SalesOrderRow.sales_order_id.in_([o.id for o in orders]),
                SalesOrderRow.deleted_at.is_(None),
            )
            .order_by(SalesOrderRow.id)
        )
    )
    shaped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r, out in zip(rows, rows_out(db, rows), strict=True):
        shaped[r.sales_order_id].append(out)
    per_order: dict[int, list[SalesOrderRow]] = defaultdict(list)
    for r in rows:
        per_order[r.sales_order_id].append(r)
    return [_order_dict(o, per_order[o.id], shaped[o.id]) for o in orders]


def order_out(db: Db, order: SalesOrder) -> dict[str, Any]:
    return orders_out(db, [order])[0]


def _order_dict(
    order: SalesOrder, rows: list[SalesOrderRow], shaped: list[dict[str, Any]]
) -> dict[str, Any]:
    return clean(
        {
            "id": order.id,
            "customer_id": order.customer_id,
            "order_no": order.order_no,
            "location_id": order.location_id,
            "status": order.status,
            "order_created_date": iso(order.order_created_date),
            "delivery_date": iso(order.delivery_date),
            "picked_date": iso(order.picked_date),
            "customer_ref": order.customer_ref,
            "additional_info": order.additional_info,
            "currency": order.currency,
            "ecommerce_order_type": order.ecommerce_order_type,
            "ecommerce_store_name": order.ecommerce_store_name,
            "ecommerce_order_id": order.ecommerce_order_id,
            "total": float(sum((r.price_per_unit or 0) * r.quantity for r in rows)),
            "sales_order_rows": shaped,
            "addresses": [],
            "missing_serial_numbers": order.missing_serial_numbers,
            "tracing_status": order.tracing_status,
            "store_sync": order.store_sync,
            "store_sync_note": order.store_sync_note,
            "created_at": iso(order.created_at),
            "updated_at": iso(order.updated_at),
            "deleted_at": iso(order.deleted_at),
        }
    )


def fulfilment_out(db: Db, f: SalesOrderFulfillment) -> dict[str, Any]:
    frows = list(
        db.scalars(
            select(SalesOrderFulfillmentRow)
            .where(SalesOrderFulfillmentRow.fulfillment_id == f.id)
            .order_by(SalesOrderFulfillmentRow.id)
        )
    )
    ids = [fr.id for fr in frows]
    shipped: dict[int, list[int]] = defaultdict(list)
    for rid, sid in db.execute(
        select(SerialTransaction.resource_id, SerialTransaction.serial_id)
        .where(
            SerialTransaction.resource_type == sales.FROW,
            SerialTransaction.resource_id.in_(ids),
            SerialTransaction.quantity_change == -1,
        )
        .order_by(SerialTransaction.id)
    ):
        shipped[rid].append(sid)
    from tracelot.db.models import Movement

    batches: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for m in db.execute(
        select(Movement.resource_id, Movement.batch_id, Movement.quantity).where(
            Movement.resource_type == sales.FROW,
            Movement.resource_id.in_(ids),
            Movement.reason == "delivery",
            Movement.batch_id.is_not(None),
        )
    ):
        batches[m.resource_id].append((m.batch_id, -m.quantity))
    return _fulfilment_dict(
        f,
        [
            fulfillments.ShippedRow(
                fr.id, fr.sales_order_row_id, fr.quantity, shipped[fr.id], batches[fr.id]
            )
            for fr in frows
        ],
    )


def _fulfilment_dict(
    f: SalesOrderFulfillment, frows: list[fulfillments.ShippedRow]
) -> dict[str, Any]:
    return clean(
        {
            "id": f.id,
            "sales_order_id": f.sales_order_id,
            "status": f.status,
            "picked_date": iso(f.picked_date),
            "delivered_date": iso(f.delivered_date),
            "tracking_number": f.tracking_number,
            "tracking_url": f.tracking_url,
            "tracking_carrier": f.tracking_carrier,
            "tracking_method": f.tracking_method,
            "created_at": iso(f.created_at),
            "updated_at": iso(f.updated_at),
            "deleted_at": iso(f.deleted_at),
            "sales_order_fulfillment_rows": [
                {
                    "id": fr.id,
                    "sales_order_row_id": fr.sales_order_row_id,
                    "quantity": num(fr.quantity),
                    "serial_numbers": fr.serial_ids,
                    "batch_transactions": [
                        {"batch_id": b, "quantity": float(q)} for b, q in fr.batches
                    ],
                }
                for fr in frows
            ],
        }
    )


# --- orders ------------------------------------------------------------


# The two requests of every sale answer with a JSONResponse built from what the use
# case wrote (no re-read; plain JSON types only), so FastAPI does not validate the
# answer again in one more worker thread; the schema still says it is an object.
@router.post("/sales_orders", response_model=dict[str, Any])
def create_order(body: OrderIn, db: Db, who: Who) -> Response:
    data = body.model_dump(exclude_unset=True)  # the rows too, as sent
    order, rows = sales.create_order_rows(db, data, who.name)
    # a new order's rows hold no serials and no batch picks yet: nothing to read back
    return JSONResponse(_order_dict(order, rows, [_row_dict(r, [], []) for r in rows]))


ORDER_FILTERS = (
    "order_no",
    "customer_id",
    "location_id",
    "status",
    "ecommerce_order_id",
    "tracing_status",
)


@router.get("/sales_orders", dependencies=[allow_filters(*ORDER_FILTERS)])
def list_orders(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    order_no: str | None = None,
    customer_id: int | None = None,
    location_id: int | None = None,
    status: str | None = None,
    ecommerce_order_id: str | None = None,
    tracing_status: Literal["not_required", "missing", "complete"] | None = None,
) -> dict[str, Any]:
    q = common_filters(select(SalesOrder).order_by(SalesOrder.id.desc()), SalesOrder, request)
    for col, val in (
        (SalesOrder.order_no, order_no),
        (SalesOrder.customer_id, customer_id),
        (SalesOrder.location_id, location_id),
        (SalesOrder.status, status),
        (SalesOrder.ecommerce_order_id, ecommerce_order_id),
        (SalesOrder.tracing_status, tracing_status),
    ):
        if val is not None:
            q = q.where(col == val)
    return {"data": orders_out(db, list(paginate(db, q, paging, response)))}


@router.get("/sales_orders/{order_id}")
def get_order(order_id: int, db: Db) -> dict[str, Any]:
    return order_out(db, get(db, SalesOrder, order_id, "Sales order"))


@router.patch("/sales_orders/{order_id}")
def update_order(order_id: int, body: OrderPatch, db: Db) -> dict[str, Any]:
    order = get(db, SalesOrder, order_id, "Sales order")
    return order_out(db, sales.update_order(db, order, body.sent()))


@router.delete("/sales_orders/{order_id}", status_code=204)
def delete_order(order_id: int, db: Db, who: Who) -> Response:
    sales.delete_order(db, get(db, SalesOrder, order_id, "Sales order"), who.name)
    return Response(status_code=204)


@router.post("/sales_orders/{order_id}/revert")
def revert_order(order_id: int, db: Db, who: Who, body: RevertIn | None = None) -> dict[str, Any]:
    order = get(db, SalesOrder, order_id, "Sales order")
    to = body.status if body else "NOT_SHIPPED"
    return order_out(db, fulfillments.revert(db, order, who.name, to))


@router.post("/sales_orders/{order_id}/deliver")
def deliver_order(order_id: int, db: Db, who: Who) -> dict[str, Any]:
    order = get(db, SalesOrder, order_id, "Sales order")
    return order_out(db, fulfillments.deliver(db, order, who.name))


@router.post("/sales_orders/{order_id}/revert_assign_deliver")
def revert_assign_deliver(
    order_id: int, body: RevertAssignDeliverIn, db: Db, who: Who
) -> dict[str, Any]:
    order = get(db, SalesOrder, order_id, "Sales order")
    rows = [r.model_dump(exclude_unset=True) for r in body.rows]
    return order_out(db, fulfillments.revert_assign_deliver(db, order, rows, who.name))


# --- rows ------------------------------------------------------------


@router.post("/sales_order_rows")
def create_row(body: RowCreate, db: Db) -> dict[str, Any]:
    order = get(db, SalesOrder, body.sales_order_id, "Sales order", path="sales_order_id")
    row = sales.add_row(db, order, body.model_dump(exclude_unset=True))
    sales.refresh(db, order)
    return rows_out(db, [row])[0]


@router.get(
    "/sales_order_rows",
    dependencies=[
        allow_filters(
            "sales_order_ids", "variant_id", "linked_manufacturing_order_id", "tracing_status"
        )
    ],
)
def list_rows(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    variant_id: int | None = None,
    linked_manufacturing_order_id: int | None = None,
    tracing_status: str | None = None,
) -> dict[str, Any]:
    q = common_filters(
        select(SalesOrderRow).order_by(SalesOrderRow.id.desc()), SalesOrderRow, request
    )
    order_ids = request.query_params.getlist("sales_order_ids")
    if order_ids:
        q = q.where(SalesOrderRow.sales_order_id.in_([int(float(i)) for i in order_ids]))
    for col, val in (
        (SalesOrderRow.variant_id, variant_id),
        (SalesOrderRow.linked_manufacturing_order_id, linked_manufacturing_order_id),
        (SalesOrderRow.tracing_status, tracing_status),
    ):
        if val is not None:
            q = q.where(col == val)
    return {"data": rows_out(db, paginate(db, q, paging, response))}


@router.get("/sales_order_rows/{row_id}")
def get_row(row_id: int, db: Db) -> dict[str, Any]:
    return rows_out(db, [get(db, SalesOrderRow, row_id, "Sales order row")])[0]


@router.patch("/sales_order_rows/{row_id}")
def update_row(row_id: int, body: RowPatch, db: Db, who: Who) -> dict[str, Any]:
    row = get(db, SalesOrderRow, row_id, "Sales order row")
    return rows_out(db, [sales.update_row(db, row, body.sent(), who.name)])[0]


@router.delete("/sales_order_rows/{row_id}", status_code=204)
def delete_row(row_id: int, db: Db) -> Response:
    sales.delete_row(db, get(db, SalesOrderRow, row_id, "Sales order row"))
    return Response(status_code=204)


@router.get("/sales_order_rows/{row_id}/serial_picker", dependencies=[allow_filters("q", "scan")])
def serial_picker(
    row_id: int,
    db: Db,
    q: str | None = None,
    scan: str | None = None,
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
) -> dict[str, Any]:
    row = get(db, SalesOrderRow, row_id, "Sales order row")
    res = picking.serial_picker(db, row, q=q, scan=scan, limit=int(limit))
    return {
        "data": [{"id": s.id, "serial_number": s.serial_number} for s in res.serials],
        "assigned": [
            {"id": s.id, "serial_number": s.serial_number, "status": s.status}
            for s in res.held_here
        ],
        **({"scanned_serial_number": res.scanned} if res.scanned else {}),
    }


@router.get(
    "/sales_order_rows/{row_id}/batch_proposal",
    dependencies=[allow_filters("allow_expired", "quantity")],
)
def batch_proposal(
    row_id: int, db: Db, allow_expired: bool = False, quantity: Decimal | None = None
) -> dict[str, Any]:
    row = get(db, SalesOrderRow, row_id, "Sales order row")
    p = picking.row_proposal(db, row, allow_expired, quantity)
    return {
        "data": [
            clean(
                {
                    "batch_id": k.batch_id,
                    "batch_number": k.batch_number,
                    "quantity": dec(k.quantity),
                    "expiration_date": iso(k.expiration_date),
                    "expired": k.expired,
                }
            )
            for k in p.picks
        ],
        "short": dec(p.short),
    }


# --- fulfilments ------------------------------------------------------------


@router.post("/sales_order_fulfillments", response_model=dict[str, Any])
def create_fulfilment(body: FulfilmentIn, db: Db, who: Who) -> Response:
    data = body.model_dump(exclude_unset=True)  # the rows too, as sent
    shipped = fulfillments.create_shipped(db, data, who.name)
    # what it shipped, as written
    return JSONResponse(_fulfilment_dict(shipped.fulfillment, shipped.rows))


@router.get("/sales_order_fulfillments", dependencies=[allow_filters("sales_order_id", "status")])
def list_fulfilments(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    sales_order_id: int | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    q = common_filters(
        select(SalesOrderFulfillment).order_by(SalesOrderFulfillment.id.desc()),
        SalesOrderFulfillment,
        request,
    )
    if sales_order_id is not None:
        q = q.where(SalesOrderFulfillment.sales_order_id == sales_order_id)
    if status is not None:
        q = q.where(SalesOrderFulfillment.status == status)
    return {"data": [fulfilment_out(db, f) for f in paginate(db, q, paging, response)]}


@router.get("/sales_order_fulfillments/{fid}")
def get_fulfilment(fid: int, db: Db) -> dict[str, Any]:
    return fulfilment_out(db, get(db, SalesOrderFulfillment, fid, "Sales order fulfillment"))


@router.patch("/sales_order_fulfillments/{fid}")
def update_fulfilment(fid: int, body: FulfilmentPatch, db: Db, who: Who) -> dict[str, Any]:
    f = get(db, SalesOrderFulfillment, fid, "Sales order fulfillment")
    return fulfilment_out(db, fulfillments.update_fulfillment(db, f, body.sent(), who.name))


@router.delete("/sales_order_fulfillments/{fid}", status_code=204)
def delete_fulfilment(fid: int, db: Db, who: Who) -> Response:
    f = get(db, SalesOrderFulfillment, fid, "Sales order fulfillment")
    fulfillments.delete_fulfillment(db, f, who.name)
    return Response(status_code=204)

"""Purchase orders, their rows, receiving, and reverting a receipt.

Katana has no way to undo a receipt; tracelot records each receipt
(``GET /purchase_order_receipts``) and ``DELETE /purchase_order_receipts/{id}``
reverts one, with new movements, while all of its units are still in stock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import Body, Request, Response
from pydantic import Field
from sqlalchemy import select

from tracelot.api import out
from tracelot.api.deps import Db, Paging, Who, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import Day, Id, In, TraceabilityIn
from tracelot.api.serialize import clean, iso
from tracelot.db.models import (
    Movement,
    PurchaseOrder,
    PurchaseOrderRow,
    PurchaseReceipt,
    Supplier,
)
from tracelot.services import purchasing
from tracelot.services.common import get

router = api_router("purchasing")


class PoRowIn(In):
    variant_id: Id
    quantity: Decimal = Field(gt=0)
    price_per_unit: Decimal | None = None
    arrival_date: datetime | None = None


class PoRowCreate(PoRowIn):
    purchase_order_id: Id


class PoRowPatch(In):
    quantity: Decimal | None = Field(default=None, gt=0)
    price_per_unit: Decimal | None = None
    arrival_date: datetime | None = None


class PoIn(In):
    supplier_id: Id
    location_id: Id
    purchase_order_rows: list[PoRowIn] = Field(min_length=1)
    order_no: str | None = Field(default=None, max_length=64)
    status: Literal["DRAFT", "NOT_RECEIVED"] | None = None
    currency: str | None = None
    expected_arrival_date: datetime | None = None
    order_created_date: datetime | None = None
    additional_info: str | None = None


class PoPatch(In):
    order_no: str | None = Field(default=None, max_length=64)
    status: Literal["DRAFT", "NOT_RECEIVED", "PARTIALLY_RECEIVED", "RECEIVED"] | None = None
    currency: str | None = None
    expected_arrival_date: datetime | None = None
    additional_info: str | None = None


class ReceiveBatchIn(In):
    batch_id: Id | None = None
    quantity: Decimal = Field(gt=0)
    batch_number: str | None = Field(default=None, max_length=64)
    expiration_date: Day | None = None
    batch_barcode: str | None = Field(default=None, max_length=40)
    supplier_lot: str | None = Field(default=None, max_length=64)


class ReceiveIn(In):
    purchase_order_row_id: Id
    quantity: Decimal = Field(gt=0)
    received_date: datetime | None = None
    location_id: Id | None = None
    batch_transactions: list[ReceiveBatchIn] = Field(default_factory=list)
    traceability: list[TraceabilityIn] = Field(default_factory=list)
    serial_numbers: list[str] = Field(default_factory=list, max_length=100_000)
    generate_serials: bool = False


def row_out(db: Db, r: PurchaseOrderRow, location_id: int) -> dict[str, Any]:
    moves = db.execute(
        select(Movement.batch_id, Movement.quantity).where(
            Movement.resource_type == purchasing.ROW,
            Movement.resource_id == r.id,
            Movement.batch_id.is_not(None),
        )
    ).all()
    per_batch: dict[int, Decimal] = {}
    for m in moves:
        per_batch[m.batch_id] = per_batch.get(m.batch_id, Decimal(0)) + m.quantity
    price = float(r.price_per_unit) if r.price_per_unit is not None else None
    return clean(
        {
            "id": r.id,
            "purchase_order_id": r.purchase_order_id,
            "variant_id": r.variant_id,
            "quantity": float(r.quantity),
            "received_quantity": float(r.received_quantity),
            "price_per_unit": price,
            "total": float(r.price_per_unit * r.quantity) if r.price_per_unit is not None else None,
            "arrival_date": iso(r.arrival_date),
            "received_date": iso(r.received_date),
            "location_id": location_id,
            "batch_transactions": [
                {"batch_id": b, "quantity": float(q)} for b, q in per_batch.items() if q > 0
            ],
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
            "deleted_at": iso(r.deleted_at),
        }
    )


def po_out(db: Db, po: PurchaseOrder) -> dict[str, Any]:
    sup = db.get(Supplier, po.supplier_id)
    rows = purchasing.order_rows(db, po.id)
    return clean(
        {
            "id": po.id,
            "status": po.status,
            "order_no": po.order_no,
            "entity_type": "regular",
            "supplier_id": po.supplier_id,
            "location_id": po.location_id,
            "currency": po.currency,
            "expected_arrival_date": iso(po.expected_arrival_date),
            "order_created_date": iso(po.order_created_date),
            "received_date": iso(po.received_date),
            "additional_info": po.additional_info,
            "billing_status": "NOT_BILLED",
            "last_document_status": "NOT_SENT",
            "total": float(sum((r.price_per_unit or 0) * r.quantity for r in rows)),
            "purchase_order_rows": [row_out(db, r, po.location_id) for r in rows],
            "supplier": out.supplier(sup) if sup else None,
            "created_at": iso(po.created_at),
            "updated_at": iso(po.updated_at),
            "deleted_at": iso(po.deleted_at),
        }
    )


def receipt_out(r: PurchaseReceipt) -> dict[str, Any]:
    return clean(
        {
            "id": r.id,
            "purchase_order_id": r.purchase_order_id,
            "purchase_order_row_id": r.purchase_order_row_id,
            "quantity": float(r.quantity),
            "received_date": iso(r.received_date),
            "user": r.user,
            "reverted_at": iso(r.reverted_at),
            "created_at": iso(r.created_at),
        }
    )


@router.post("/purchase_orders")
def create_po(body: PoIn, db: Db, who: Who) -> dict[str, Any]:
    return po_out(db, purchasing.create_order(db, body.sent(), who.name))


@router.get(
    "/purchase_orders",
    dependencies=[allow_filters("status", "supplier_id", "order_no", "location_id")],
)
def list_pos(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    status: str | None = None,
    supplier_id: int | None = None,
    order_no: str | None = None,
    location_id: int | None = None,
) -> dict[str, Any]:
    q = common_filters(
        select(PurchaseOrder).order_by(PurchaseOrder.id.desc()), PurchaseOrder, request
    )
    if status:
        q = q.where(PurchaseOrder.status == status)
    if supplier_id:
        q = q.where(PurchaseOrder.supplier_id == supplier_id)
    if order_no:
        q = q.where(PurchaseOrder.order_no == order_no)
    if location_id:
        q = q.where(PurchaseOrder.location_id == location_id)
    return {"data": [po_out(db, p) for p in paginate(db, q, paging, response)]}


@router.get("/purchase_orders/{po_id}")
def get_po(po_id: int, db: Db) -> dict[str, Any]:
    return po_out(db, get(db, PurchaseOrder, po_id))


@router.patch("/purchase_orders/{po_id}")
def update_po(po_id: int, body: PoPatch, db: Db) -> dict[str, Any]:
    return po_out(db, purchasing.update_order(db, get(db, PurchaseOrder, po_id), body.sent()))


@router.delete("/purchase_orders/{po_id}", status_code=204)
def delete_po(po_id: int, db: Db) -> Response:
    """Only while nothing is received (revert the receipts first)."""
    purchasing.delete_order(db, get(db, PurchaseOrder, po_id))
    return Response(status_code=204)


@router.post("/purchase_order_rows")
def create_po_row(body: PoRowCreate, db: Db) -> dict[str, Any]:
    po = get(db, PurchaseOrder, body.purchase_order_id, "Purchase order", path="purchase_order_id")
    return row_out(db, purchasing.add_row(db, po, body.sent()), po.location_id)


@router.get("/purchase_order_rows", dependencies=[allow_filters("purchase_order_id", "variant_id")])
def list_po_rows(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    purchase_order_id: int | None = None,
    variant_id: int | None = None,
) -> dict[str, Any]:
    q = common_filters(
        select(PurchaseOrderRow).order_by(PurchaseOrderRow.id.desc()), PurchaseOrderRow, request
    )
    if purchase_order_id:
        q = q.where(PurchaseOrderRow.purchase_order_id == purchase_order_id)
    if variant_id:
        q = q.where(PurchaseOrderRow.variant_id == variant_id)
    rows = paginate(db, q, paging, response)
    locs = {
        p.id: p.location_id
        for p in db.scalars(
            select(PurchaseOrder).where(PurchaseOrder.id.in_({r.purchase_order_id for r in rows}))
        )
    }
    return {"data": [row_out(db, r, locs[r.purchase_order_id]) for r in rows]}


@router.get("/purchase_order_rows/{row_id}")
def get_po_row(row_id: int, db: Db) -> dict[str, Any]:
    row = get(db, PurchaseOrderRow, row_id)
    return row_out(db, row, get(db, PurchaseOrder, row.purchase_order_id).location_id)


@router.patch("/purchase_order_rows/{row_id}")
def update_po_row(row_id: int, body: PoRowPatch, db: Db) -> dict[str, Any]:
    row = purchasing.update_row(db, get(db, PurchaseOrderRow, row_id), body.sent())
    return row_out(db, row, get(db, PurchaseOrder, row.purchase_order_id).location_id)


@router.delete("/purchase_order_rows/{row_id}", status_code=204)
def delete_po_row(row_id: int, db: Db) -> Response:
    purchasing.delete_row(db, get(db, PurchaseOrderRow, row_id))
    return Response(status_code=204)


@router.post("/purchase_order_receive", status_code=204)
def receive(db: Db, who: Who, body: ReceiveIn | list[ReceiveIn] = Body(...)) -> Response:  # noqa: B008
    """Receive one row or many (one transaction). 204.

    Batch rows: ``batch_transactions`` name existing batches (``batch_id``) or
    create them (``batch_number``, ``expiration_date``, ``batch_barcode``,
    ``supplier_lot``). Serial rows take exactly ``quantity`` serials: ids in
    ``traceability``, else new strings in ``serial_numbers`` (ranges like
    ``SN-001..SN-050``), else those minted on the row (``POST /serial_numbers``
    with resource_type PurchaseOrderRow), else with ``generate_serials: true``
    new numbers from the item's ``serial_pattern``. Each received row becomes a
    receipt (``GET /purchase_order_receipts``) that
    ``DELETE /purchase_order_receipts/{id}`` can revert.
    """
    items = body if isinstance(body, list) else [body]
    purchasing.receive(db, [i.sent() for i in items], who.name)
    return Response(status_code=204)


@router.get(
    "/purchase_order_receipts",
    dependencies=[allow_filters("purchase_order_id", "purchase_order_row_id", "include_reverted")],
)
def list_receipts(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    purchase_order_id: int | None = None,
    purchase_order_row_id: int | None = None,
    include_reverted: bool = False,
) -> dict[str, Any]:
    """tracelot extension: every receipt of a PO row (what a revert undoes)."""
    q = common_filters(
        select(PurchaseReceipt).order_by(PurchaseReceipt.id.desc()), PurchaseReceipt, request
    )
    if purchase_order_id:
        q = q.where(PurchaseReceipt.purchase_order_id == purchase_order_id)
    if purchase_order_row_id:
        q = q.where(PurchaseReceipt.purchase_order_row_id == purchase_order_row_id)
    if not include_reverted:
        q = q.where(PurchaseReceipt.reverted_at.is_(None))
    return {"data": [receipt_out(r) for r in paginate(db, q, paging, response)]}


@router.delete("/purchase_order_receipts/{receipt_id}", status_code=204)
def revert_receipt(receipt_id: int, db: Db, who: Who) -> Response:
    """tracelot extension: revert a receipt with new movements (the row and PO status
    follow). Refused with 422 IN_USE, naming the serials or batches that moved, once
    any received unit has left stock."""
    purchasing.revert_receipt(db, get(db, PurchaseReceipt, receipt_id), who.name)
    return Response(status_code=204)

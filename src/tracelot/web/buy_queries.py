"""Read models of the Buy screens: the purchase order list, one PO, its receipts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Batch,
    Item,
    Location,
    Movement,
    PurchaseOrder,
    PurchaseOrderRow,
    PurchaseReceipt,
    PurchaseReceiptMovement,
    SerialTransaction,
    Supplier,
    Variant,
)
from tracelot.db.sql import AnySelect

STATUSES = ["DRAFT", "NOT_RECEIVED", "PARTIALLY_RECEIVED", "RECEIVED"]


def po_list(q: str, status: str) -> AnySelect:
    """Newest first; paged by the caller."""
    query = (
        select(
            PurchaseOrder.id,
            PurchaseOrder.order_no,
            PurchaseOrder.status,
            PurchaseOrder.expected_arrival_date,
            PurchaseOrder.received_date,
            Supplier.name.label("supplier"),
            Location.name.label("location"),
        )
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .join(Location, Location.id == PurchaseOrder.location_id)
        .where(PurchaseOrder.deleted_at.is_(None))
        .order_by(PurchaseOrder.id.desc())
    )
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(PurchaseOrder.order_no.ilike(like), Supplier.name.ilike(like)))
    if status:
        query = query.where(PurchaseOrder.status == status)
    return query


def po_header(session: Session, po_id: int) -> Any:
    return session.execute(
        select(PurchaseOrder, Supplier.name.label("supplier"), Location.name.label("location"))
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .join(Location, Location.id == PurchaseOrder.location_id)
        .where(PurchaseOrder.id == po_id, PurchaseOrder.deleted_at.is_(None))
    ).one_or_none()


def po_rows(session: Session, po_id: int) -> list[Any]:
    return list(
        session.execute(
            select(
                PurchaseOrderRow,
                Variant.sku,
                Item.name.label("item"),
                Item.tracking,
                Item.uom,
                Item.serial_pattern,
            )
            .join(Variant, Variant.id == PurchaseOrderRow.variant_id)
            .join(Item, Item.id == Variant.item_id)
            .where(
                PurchaseOrderRow.purchase_order_id == po_id,
                PurchaseOrderRow.deleted_at.is_(None),
            )
            .order_by(PurchaseOrderRow.id)
        )
    )


def receipts(session: Session, po_id: int) -> list[dict[str, Any]]:
    """Receipts newest first, each with the batches and serial count it brought in."""
    recs = list(
        session.execute(
            select(PurchaseReceipt, Variant.sku)
            .join(PurchaseOrderRow, PurchaseOrderRow.id == PurchaseReceipt.purchase_order_row_id)
            .join(Variant, Variant.id == PurchaseOrderRow.variant_id)
            .where(PurchaseReceipt.purchase_order_id == po_id)
            .order_by(PurchaseReceipt.id.desc())
        )
    )
    ids = [r.id for r, _ in recs]
    lots: dict[int, list[Any]] = {}
    for rid, bid, number, expiry, qty in session.execute(
        select(
            PurchaseReceiptMovement.receipt_id,
            Batch.id,
            Batch.batch_number,
            Batch.expiration_date,
            Movement.quantity,
        )
        .join(Movement, Movement.id == PurchaseReceiptMovement.movement_id)
        .join(Batch, Batch.id == Movement.batch_id)
        .where(PurchaseReceiptMovement.receipt_id.in_(ids))
        .order_by(Movement.id)
    ):
        lots.setdefault(rid, []).append(
            {"id": bid, "number": number, "expiry": expiry, "quantity": qty}
        )
    serials = dict(
        session.execute(
            select(PurchaseReceiptMovement.receipt_id, func.count(SerialTransaction.id))
            .join(
                SerialTransaction,
                SerialTransaction.movement_id == PurchaseReceiptMovement.movement_id,
            )
            .where(PurchaseReceiptMovement.receipt_id.in_(ids))
            .group_by(PurchaseReceiptMovement.receipt_id)
        ).all()
    )
    return [
        {"r": r, "sku": sku, "lots": lots.get(r.id, []), "serials": serials.get(r.id, 0)}
        for r, sku in recs
    ]

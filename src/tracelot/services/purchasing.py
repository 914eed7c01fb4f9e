"""Purchase orders and receipts: stock comes in with batches or serials (SPEC §4).

A receipt is one row's received quantity: batch rows allocate it to batches
(existing, or created inline with number, expiry and barcode), serial rows
receive exactly that many serials (named, entered, minted on the PO row first
minted first, or generated from the item's pattern). Every unit's origin is
the movement with reason ``receipt`` on resource ``PurchaseOrderRow``. A
receipt can be reverted (``revert_receipt``) while everything it brought in
is still in stock; otherwise the refusal names what moved.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import (
    Batch,
    Location,
    Movement,
    PurchaseOrder,
    PurchaseOrderRow,
    PurchaseReceipt,
    PurchaseReceiptMovement,
    Serial,
    SerialTransaction,
    Supplier,
    Variant,
)
from tracelot.domain import errors
from tracelot.services import batches, ledger, manufacturing, numbering, serials
from tracelot.services.common import apply, get
from tracelot.services.manufacturing import describe_moved

ROW = "PurchaseOrderRow"
HEADER_FIELDS = {
    "order_no",
    "expected_arrival_date",
    "additional_info",
    "currency",
    "order_created_date",
}
ROW_FIELDS = {"price_per_unit", "arrival_date"}


# -- orders and rows -----------------------------------------------------------------------


def create_order(session: Session, data: dict[str, Any], actor: str) -> PurchaseOrder:
    sup = get(session, Supplier, data.get("supplier_id"), "Supplier", path="supplier_id")
    loc = get(session, Location, data.get("location_id"), "Location", path="location_id")
    status = data.get("status") or "NOT_RECEIVED"
    if status not in ("DRAFT", "NOT_RECEIVED"):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "A new purchase order is DRAFT or NOT_RECEIVED; receiving sets the other statuses.",
            path="status",
        )
    po = PurchaseOrder(
        supplier_id=sup.id,
        location_id=loc.id,
        status=status,
        order_no="",
        order_created_date=utcnow(),
    )
    apply(po, {k: v for k, v in data.items() if v is not None}, HEADER_FIELDS)
    session.add(po)
    session.flush()
    po.order_no = po.order_no or f"PO-{po.id}"
    rows = data.get("purchase_order_rows") or []
    if not rows:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "A purchase order needs at least one row.",
            path="purchase_order_rows",
        )
    for i, r in enumerate(rows):
        add_row(session, po, r, f"purchase_order_rows[{i}]")
    return po


def add_row(
    session: Session, po: PurchaseOrder, r: dict[str, Any], path: str = ""
) -> PurchaseOrderRow:
    pre = f"{path}." if path else ""
    variant = get(session, Variant, r.get("variant_id"), "Variant", path=f"{pre}variant_id")
    qty = _quantity(variant, r.get("quantity"), f"{pre}quantity")
    row = PurchaseOrderRow(purchase_order_id=po.id, variant_id=variant.id, quantity=qty)
    apply(row, r, ROW_FIELDS)
    session.add(row)
    session.flush()
    _refresh(session, po)
    return row


def update_order(session: Session, po: PurchaseOrder, data: dict[str, Any]) -> PurchaseOrder:
    apply(po, data, HEADER_FIELDS)
    if data.get("status") in ("DRAFT", "NOT_RECEIVED") and po.status in ("DRAFT", "NOT_RECEIVED"):
        po.status = data["status"]
    elif data.get("status") and data["status"] != po.status:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Receiving sets PARTIALLY_RECEIVED and "
            "RECEIVED: use POST /purchase_order_receive, or DELETE "
            "/purchase_order_receipts/{id} to revert a receipt.",
            path="status",
        )
    po.updated_at = utcnow()
    return po


def update_row(session: Session, row: PurchaseOrderRow, data: dict[str, Any]) -> PurchaseOrderRow:
    lock(session, [row.id])
    if data.get("quantity") is not None:
        variant = get(session, Variant, row.variant_id)
        qty = _quantity(variant, data["quantity"], "quantity")
        if qty < row.received_quantity:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                f"{_fmt(row.received_quantity)} "
                "received already: the quantity cannot go below that (revert "
                "a receipt first).",
                path="quantity",
            )
        row.quantity = qty
    apply(row, data, ROW_FIELDS)
    row.updated_at = utcnow()
    _refresh(session, get(session, PurchaseOrder, row.purchase_order_id))
    return row


def delete_row(session: Session, row: PurchaseOrderRow) -> None:
    lock(session, [row.id])
    if row.received_quantity > 0:
        raise errors.refuse(
            errors.IN_USE,
            "This row has been received: revert its receipts "
            "first (DELETE /purchase_order_receipts/{id}).",
            path="id",
        )
    serials_ = [s.id for s in minted_serials(session, row.id)]
    serials.drop_minted(session, ROW, row.id, serials_)
    row.deleted_at = utcnow()
    _refresh(session, get(session, PurchaseOrder, row.purchase_order_id))


def delete_order(session: Session, po: PurchaseOrder) -> None:
    for row in order_rows(session, po.id):
        delete_row(session, row)
    po.deleted_at = utcnow()


def order_rows(session: Session, po_id: int) -> list[PurchaseOrderRow]:
    return list(
        session.scalars(
            select(PurchaseOrderRow)
            .where(
                PurchaseOrderRow.purchase_order_id == po_id, PurchaseOrderRow.deleted_at.is_(None)
            )
            .order_by(PurchaseOrderRow.id)
        )
    )


def lock(session: Session, row_ids: list[int]) -> None:
    """Hold the row locks of these PO rows and of their orders until the transaction ends.

    Taken before any check of what a row received, so two receipts (or a
    receipt and a revert) of one order queue instead of both passing the
    over-receipt check and overwriting ``received_quantity`` and the order's
    status. Orders first, then rows, each in id order: two lockers never wait
    for each other in a cycle. PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite's
    single writer serialises them already. Locked rows are re-read.
    """
    ids = sorted(set(row_ids))
    if not ids:
        return
    po_ids = sorted(
        set(
            session.scalars(
                select(PurchaseOrderRow.purchase_order_id).where(PurchaseOrderRow.id.in_(ids))
            )
        )
    )
    for model, keys in ((PurchaseOrder, po_ids), (PurchaseOrderRow, ids)):
        if keys:
            session.scalars(
                select(model)
                .where(model.id.in_(keys))
                .order_by(model.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).all()


def _refresh(session: Session, po: PurchaseOrder) -> None:
    """Status from what the rows received (DRAFT stays until something arrives)."""
    rows = order_rows(session, po.id)
    received = [r.received_quantity for r in rows]
    if rows and all(r.received_quantity >= r.quantity for r in rows):
        po.status = "RECEIVED"
    elif any(q > 0 for q in received):
        po.status = "PARTIALLY_RECEIVED"
    elif po.status != "DRAFT":
        po.status = "NOT_RECEIVED"
    po.updated_at = utcnow()


# -- receiving -----------------------------------------------------------------------------


def receive(session: Session, items: list[dict[str, Any]], actor: str) -> list[PurchaseReceipt]:
    """Receive rows (all in one transaction); each item becomes one receipt."""
    if not items:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Send at least one row to receive.",
            path="purchase_order_row_id",
        )
    lock(session, [i for i in (_int(item.get("purchase_order_row_id")) for item in items) if i])
    receipts = [
        _receive_one(session, item, actor, f"[{i}]" if len(items) > 1 else "")
        for i, item in enumerate(items)
    ]
    _unblock(session, [r.id for r in receipts])
    return receipts


def _unblock(session: Session, receipt_ids: list[int]) -> None:
    """MOs waiting for what these receipts moved get their readiness again (set-based)."""
    places = session.execute(
        select(Movement.variant_id, Movement.location_id)
        .join(PurchaseReceiptMovement, PurchaseReceiptMovement.movement_id == Movement.id)
        .where(PurchaseReceiptMovement.receipt_id.in_(receipt_ids))
        .distinct()
    ).all()
    manufacturing.refresh_waiting(
        session, [p.variant_id for p in places], [p.location_id for p in places]
    )


def _receive_one(session: Session, item: dict[str, Any], actor: str, at: str) -> PurchaseReceipt:
    row = get(
        session,
        PurchaseOrderRow,
        item.get("purchase_order_row_id"),
        "Purchase order row",
        path=f"{at}purchase_order_row_id",
    )
    po = get(session, PurchaseOrder, row.purchase_order_id)
    variant = get(session, Variant, row.variant_id)
    qty = _quantity(variant, item.get("quantity"), f"{at}quantity")
    if row.received_quantity + qty > row.quantity:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"Row {row.id} of {po.order_no} ordered "
            f"{_fmt(row.quantity)} and received {_fmt(row.received_quantity)}: "
            f"cannot receive {_fmt(qty)} more (raise the row's quantity first).",
            path=f"{at}quantity",
        )
    when = _as_datetime(item.get("received_date"), f"{at}received_date") or utcnow()
    receipt = PurchaseReceipt(
        purchase_order_id=po.id,
        purchase_order_row_id=row.id,
        quantity=qty,
        received_date=when,
        user=actor,
    )
    session.add(receipt)
    session.flush()
    loc = int(item.get("location_id") or po.location_id)
    tracking = variant.item.tracking
    if tracking == "batch":
        changes = _batch_changes(session, variant, loc, qty, item, at)
    elif tracking == "serial":
        ids = _receipt_serials(session, row, variant, int(qty), item, at, when)
        changes = [ledger.Change(variant.id, loc, qty, serial_ids=ids)]
    else:
        changes = [ledger.Change(variant.id, loc, qty)]
    for c in changes:
        c.cost_per_unit = row.price_per_unit
    doc = ledger.Doc(
        reason="receipt",
        resource_type=ROW,
        resource_id=row.id,
        user=actor,
        document=po.order_no,
        caused_by_order_no=po.order_no,
        when=when,
    )
    moves = ledger.post(session, doc, changes)
    session.execute(
        insert(PurchaseReceiptMovement),
        [{"receipt_id": receipt.id, "movement_id": m} for m in moves],
    )
    row.received_quantity += qty
    row.received_date = when
    po.received_date = when
    _refresh(session, po)
    return receipt


def _batch_changes(
    session: Session, variant: Variant, loc: int, qty: Decimal, item: dict[str, Any], at: str
) -> list[ledger.Change]:
    allocations = (
        [t for t in item.get("traceability") or [] if t.get("batch_id")]
        or item.get("batch_transactions")
        or []
    )
    path = f"{at}batch_transactions"
    if not allocations:
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"{variant.sku} is batch-tracked: "
            "allocate the quantity to batches in batch_transactions (batch_id, "
            "or batch_number with expiration_date to create one).",
            path=path,
        )
    changes, total = [], Decimal(0)
    for j, a in enumerate(allocations):
        amount = Decimal(str(a.get("quantity") or 0))
        if amount <= 0:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                "Each batch allocation needs a quantity above 0.",
                path=f"{path}[{j}].quantity",
            )
        total += amount
        changes.append(
            ledger.Change(variant.id, loc, amount, _batch_for(session, variant, a, f"{path}[{j}]"))
        )
    if total != qty:
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"Batch allocations add up to "
            f"{_fmt(total)} but {_fmt(qty)} is received: make them equal.",
            path=path,
        )
    return changes


def _batch_for(session: Session, variant: Variant, a: dict[str, Any], path: str) -> int:
    if a.get("batch_id"):
        return batches.of_variant(session, int(a["batch_id"]), variant.id, f"{path}.batch_id").id
    number = (a.get("batch_number") or "").strip()
    if not number:
        raise errors.refuse(
            errors.MISSING,
            "Name the batch: batch_id of an existing batch, or "
            "batch_number (with expiration_date) for a new one.",
            path=f"{path}.batch_id",
        )
    b = batches.find_or_create(
        session,
        variant.id,
        number,
        expiration_date=a.get("expiration_date"),
        batch_barcode=a.get("batch_barcode"),
        supplier_lot=a.get("supplier_lot") or number,
    )
    if a.get("expiration_date") and b.expiration_date != a["expiration_date"]:
        raise errors.refuse(
            errors.DUPLICATE,
            f"Batch '{number}' exists with expiry "
            f"{b.expiration_date}; send that expiry or another batch number.",
            path=f"{path}.expiration_date",
        )
    return b.id


def _receipt_serials(
    session: Session,
    row: PurchaseOrderRow,
    variant: Variant,
    count: int,
    item: dict[str, Any],
    at: str,
    when: datetime,
) -> list[int]:
    """Named in traceability, else entered, else minted on the row, else generated."""
    named = [
        int(t["serial_number_id"])
        for t in item.get("traceability") or []
        if t.get("serial_number_id")
    ]
    entered = serials.expand_entries(list(item.get("serial_numbers") or []))
    path = f"{at}traceability"
    if named:
        ids = serials.of_variant(session, variant.id, named, path)
    elif entered:
        path = f"{at}serial_numbers"
        ids = serials.mint(session, variant, entered, path)
    elif minted := [s.id for s in minted_serials(session, row.id)]:
        ids = minted[:count]
    elif item.get("generate_serials"):
        ids = serials.mint(
            session, variant, numbering.serial_numbers(session, variant, count, when.date())
        )
    else:
        raise errors.refuse(
            errors.MISSING,
            f"{variant.sku} is serial-tracked: name the "
            f"{count} serial number(s) in traceability, send serial_numbers, "
            "mint them on the row (POST /serial_numbers), or send "
            "generate_serials: true.",
            path=path,
        )
    if len(ids) != count:
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"Receiving {count} unit(s) needs exactly {count} serial number(s); got {len(ids)}.",
            path=path,
        )
    return ids


# -- reverting a receipt -------------------------------------------------------------------


def revert_receipt(session: Session, receipt: PurchaseReceipt, actor: str) -> None:
    """Take a receipt's units back out, while all of them are still in stock."""
    lock(session, [receipt.purchase_order_row_id])
    session.refresh(receipt)  # a revert that got the lock first has reverted it
    if receipt.reverted_at is not None:
        raise errors.NotFound("Purchase receipt", receipt.id)
    po = get(session, PurchaseOrder, receipt.purchase_order_id)
    moves = list(
        session.scalars(
            select(Movement)
            .join(PurchaseReceiptMovement, PurchaseReceiptMovement.movement_id == Movement.id)
            .where(PurchaseReceiptMovement.receipt_id == receipt.id)
            .order_by(Movement.id)
        )
    )
    doc = ledger.Doc(
        reason="revert",
        resource_type=ROW,
        resource_id=receipt.purchase_order_row_id,
        user=actor,
        document=f"{po.order_no} (receipt {receipt.id} reverted)",
        serial_status_out="pending",
    )
    for m in moves:
        ids = list(
            session.scalars(
                select(SerialTransaction.serial_id).where(SerialTransaction.movement_id == m.id)
            )
        )
        _refuse_moved(session, po, m, ids)
        try:
            ledger.post(
                session,
                doc,
                [ledger.Change(m.variant_id, m.location_id, -m.quantity, m.batch_id, ids)],
            )
        except errors.TracelotError as exc:
            raise errors.refuse(
                errors.IN_USE,
                f"Receipt {receipt.id} of {po.order_no} cannot "
                f"be reverted: some of it has left stock ({exc.message}).",
                path="id",
            ) from None
        session.execute(
            update(SerialTransaction)
            .where(SerialTransaction.movement_id == m.id)
            .values(is_active=False)
            .execution_options(synchronize_session=False)
        )
    row = get(session, PurchaseOrderRow, receipt.purchase_order_row_id)
    row.received_quantity -= receipt.quantity
    receipt.reverted_at = utcnow()
    _refresh(session, po)
    _unblock(session, [receipt.id])


def _refuse_moved(session: Session, po: PurchaseOrder, m: Movement, ids: list[int]) -> None:
    moved = describe_moved(session, ids, m.location_id)
    held = session.execute(
        select(Serial.serial_number, Serial.holder_type, Serial.holder_id)
        .where(Serial.id.in_(ids), Serial.holder_type.is_not(None))
        .limit(10)
    ).all()
    moved += "".join(
        f"; serial '{h.serial_number}' is held by {h.holder_type} {h.holder_id}" for h in held
    )
    if m.batch_id and not ids:
        left = session.scalar(
            select(func.coalesce(func.sum(Movement.quantity), 0)).where(
                Movement.batch_id == m.batch_id, Movement.location_id == m.location_id
            )
        ) or Decimal(0)
        if Decimal(left) < m.quantity:
            number = session.scalar(select(Batch.batch_number).where(Batch.id == m.batch_id))
            moved += (
                f"; batch '{number}' has {_fmt(Decimal(left))} of the "
                f"{_fmt(m.quantity)} received left"
            )
    if moved:
        raise errors.refuse(
            errors.IN_USE,
            f"This receipt of {po.order_no} cannot be reverted: "
            f"{moved.lstrip('; ')}. Bring those units back first.",
            path="id",
        )


# -- serials minted on a PO row (POST /serial_numbers resource_type PurchaseOrderRow) -------


def minted_serials(session: Session, row_id: int) -> list[Serial]:
    """Serials minted on the row and not received yet, first minted first."""
    return serials.minted_on(session, ROW, row_id)


def link_serials(session: Session, row_id: int, numbers: list[str], actor: str) -> list[int]:
    """Mint serials on a PO row (link 0); receiving puts them in stock (+1)."""
    row = get(session, PurchaseOrderRow, row_id, "Purchase order row", path="resource_id")
    room = int(row.quantity - row.received_quantity) - len(minted_serials(session, row.id))
    return serials.mint_on(
        session,
        serials.serial_variant(session, row.variant_id),
        numbers,
        ROW,
        row.id,
        room=room,
        label=f"Row {row.id}",
        actor=actor,
    )


def unlink_serials(session: Session, row_id: int, ids: list[int], actor: str) -> None:
    get(session, PurchaseOrderRow, row_id, "Purchase order row", path="resource_id")
    serials.unmint(session, ROW, row_id, ids, f"purchase order row {row_id}")


serials.register(ROW, link_serials, unlink_serials)


# -- helpers -------------------------------------------------------------------------------


def _quantity(variant: Variant, value: Any, path: str) -> Decimal:
    try:
        q = Decimal(str(value))
    except Exception:  # noqa: BLE001 - any unparsable value is the caller's mistake
        q = Decimal(0)
    if value is None or not q.is_finite() or q <= 0:
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"{path} must be a number above 0.", path=path
        )
    if variant.item.tracking == "serial" and q != q.to_integral_value():
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"{variant.sku} is serial-tracked: quantities are whole units.",
            path=path,
        )
    return q


def _int(value: Any) -> int | None:
    """An id as sent, or None when it is no id (``get`` refuses it later, naming the field)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_datetime(value: Any, path: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"'{value}' is not an ISO 8601 date-time.", path=path
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _fmt(q: Decimal) -> str:
    return format(Decimal(q).normalize(), "f")

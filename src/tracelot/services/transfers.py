"""Stock transfers between locations, with batches and serials.

A draft holds what it will move (batch picks, serial holds), so nothing else
takes those units meanwhile. ``inTransit`` takes the stock out of the source,
``received`` puts it into the target; going back reverses with new movements.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import (
    BatchPick,
    Location,
    Movement,
    Serial,
    SerialTransaction,
    Stock,
    StockTransfer,
    StockTransferRow,
    Variant,
)
from tracelot.domain import errors
from tracelot.services import batches, ledger, serials
from tracelot.services.common import apply, get

ROW = "StockTransferRow"
STATUSES = ("draft", "inTransit", "received")
HEADER_FIELDS = {
    "stock_transfer_number",
    "transfer_date",
    "expected_arrival_date",
    "additional_info",
}


def create(session: Session, data: dict[str, Any], actor: str) -> StockTransfer:
    source = get(
        session, Location, data["source_location_id"], "Location", path="source_location_id"
    )
    target = get(
        session, Location, data["target_location_id"], "Location", path="target_location_id"
    )
    if source.id == target.id:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Source and target location are the same: pick two different locations.",
            path="target_location_id",
        )
    tr = StockTransfer(
        source_location_id=source.id,
        target_location_id=target.id,
        stock_transfer_number="",
        status="draft",
    )
    apply(tr, {k: v for k, v in data.items() if v is not None}, HEADER_FIELDS)
    session.add(tr)
    session.flush()
    tr.stock_transfer_number = tr.stock_transfer_number or f"ST-{tr.id}"
    for i, r in enumerate(data.get("stock_transfer_rows") or []):
        _add_row(session, tr, i, r, actor)
    return tr


def _add_row(session: Session, tr: StockTransfer, i: int, r: dict[str, Any], actor: str) -> None:
    path = f"stock_transfer_rows[{i}]"
    variant = get(session, Variant, r["variant_id"], "Variant", path=f"{path}.variant_id")
    qty = Decimal(str(r["quantity"]))
    if qty <= 0:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "A transfer row moves a quantity above 0.",
            path=f"{path}.quantity",
        )
    row = StockTransferRow(stock_transfer_id=tr.id, variant_id=variant.id, quantity=qty)
    session.add(row)
    session.flush()
    tracking = variant.item.tracking
    if tracking == "batch":
        _pick_batches(session, tr, row, variant, r, path)
    elif tracking == "serial":
        named = [
            int(t["serial_number_id"])
            for t in r.get("traceability") or []
            if t.get("serial_number_id")
        ]
        numbers = serials.expand_entries(r.get("serial_numbers") or [])
        ids = named + (serials.find(session, variant.item_id, numbers) if numbers else [])
        if len(ids) != qty:
            raise errors.refuse(
                errors.QUANTITY_MISMATCH,
                f"Name {int(qty)} serial number(s) to move; {len(ids)} given.",
                path=f"{path}.traceability",
            )
        serials.of_variant(session, variant.id, ids, f"{path}.traceability")
        ledger.hold_serials(session, ids, ROW, row.id, tr.source_location_id, actor)
    else:
        _check_on_hand(session, variant.id, tr.source_location_id, None, qty, path)


def _pick_batches(
    session: Session,
    tr: StockTransfer,
    row: StockTransferRow,
    variant: Variant,
    r: dict[str, Any],
    path: str,
) -> None:
    picks = (
        [t for t in r.get("traceability") or [] if t.get("batch_id")]
        or r.get("batch_transactions")
        or []
    )
    total = Decimal(0)
    for j, p in enumerate(picks):
        amount = Decimal(str(p.get("quantity") or 0))
        batch_id = (
            batches.of_variant(
                session, int(p["batch_id"]), variant.id, f"{path}.batch_transactions[{j}].batch_id"
            ).id
            if p.get("batch_id")
            else None
        )  # None: the item's unbatched stock
        _check_on_hand(session, variant.id, tr.source_location_id, batch_id, amount, path)
        session.add(
            BatchPick(resource_type=ROW, resource_id=row.id, batch_id=batch_id, quantity=amount)
        )
        total += amount
    if total != row.quantity:
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"Batch picks add up to {total} but the row moves {row.quantity}: make them equal.",
            path=f"{path}.batch_transactions",
        )


def _check_on_hand(
    session: Session,
    variant_id: int,
    location_id: int,
    batch_id: int | None,
    qty: Decimal,
    path: str,
) -> None:
    on_hand = session.scalar(
        select(Stock.quantity).where(
            Stock.variant_id == variant_id,
            Stock.location_id == location_id,
            Stock.batch_key == (batch_id or 0),
        )
    ) or Decimal(0)
    if on_hand < qty:
        raise errors.refuse(
            errors.NOT_IN_STOCK,
            f"Only {on_hand} on hand at the source"
            f"{' in that batch' if batch_id else ''}; cannot move {qty}.",
            path=f"{path}.quantity",
        )


def set_status(session: Session, tr: StockTransfer, status: str, actor: str) -> StockTransfer:
    """Walk draft <-> inTransit <-> received, moving stock for each step."""
    if status not in STATUSES:
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"Status must be one of {', '.join(STATUSES)}.", path="status"
        )
    here, there = STATUSES.index(tr.status), STATUSES.index(status)
    steps = [(s, +1) for s in range(here, there)] + [
        (s, -1) for s in range(here - 1, there - 1, -1)
    ]
    for step, direction in steps:
        (_depart if step == 0 else _arrive)(session, tr, direction, actor)
    tr.status = status
    tr.updated_at = utcnow()
    if status == "received" and tr.transfer_date is None:
        tr.transfer_date = utcnow()
    return tr


def _changes(
    session: Session, tr: StockTransfer, location_id: int, sign: int
) -> list[ledger.Change]:
    rows = session.scalars(
        select(StockTransferRow).where(StockTransferRow.stock_transfer_id == tr.id)
    ).all()
    out: list[ledger.Change] = []
    for row in rows:
        held = list(
            session.scalars(
                select(Serial.id).where(Serial.holder_type == ROW, Serial.holder_id == row.id)
            )
        )
        picks = session.scalars(
            select(BatchPick).where(BatchPick.resource_type == ROW, BatchPick.resource_id == row.id)
        ).all()
        if picks:
            out += [
                ledger.Change(
                    row.variant_id, location_id, sign * p.quantity, p.batch_id, resource_id=row.id
                )
                for p in picks
            ]
        else:
            out.append(
                ledger.Change(
                    row.variant_id,
                    location_id,
                    sign * row.quantity,
                    serial_ids=held,
                    resource_id=row.id,
                )
            )
    return out


def _doc(tr: StockTransfer, actor: str, reverting: bool) -> ledger.Doc:
    return ledger.Doc(
        reason="revert" if reverting else "transfer",
        resource_type=ROW,
        resource_id=tr.id,
        user=actor,
        document=tr.stock_transfer_number,
        serial_status_out="in_transit",
    )


def _depart(session: Session, tr: StockTransfer, direction: int, actor: str) -> None:
    """Out of the source (direction +1), or back into it (-1)."""
    ledger.post(
        session,
        _doc(tr, actor, direction < 0),
        _changes(session, tr, tr.source_location_id, -direction),
    )


def _arrive(session: Session, tr: StockTransfer, direction: int, actor: str) -> None:
    """Into the target (+1): the serials are free there. Back out of it (-1)."""
    row_ids = select(StockTransferRow.id).where(StockTransferRow.stock_transfer_id == tr.id)
    if direction < 0:
        _rehold(session, tr, row_ids, actor)
    ledger.post(
        session,
        _doc(tr, actor, direction < 0),
        _changes(session, tr, tr.target_location_id, direction),
    )
    if direction > 0:
        session.execute(
            update(Serial)
            .where(Serial.holder_type == ROW, Serial.holder_id.in_(row_ids))
            .values(status="in_stock", holder_type=None, holder_id=None)
            .execution_options(synchronize_session=False)
        )


def _rehold(session: Session, tr: StockTransfer, row_ids: Any, actor: str) -> None:
    """Hold again, at the target, the serials this transfer brought there.

    They must still be there and free; otherwise the step back is refused.
    """
    arrived = session.execute(
        select(SerialTransaction.resource_id, SerialTransaction.serial_id)
        .join(Movement, Movement.id == SerialTransaction.movement_id)
        .where(
            SerialTransaction.resource_type == ROW,
            SerialTransaction.resource_id.in_(row_ids),
            SerialTransaction.quantity_change == 1,
            Movement.location_id == tr.target_location_id,
        )
    ).all()
    by_row: dict[int, list[int]] = {}
    for rid, sid in arrived:
        by_row.setdefault(rid, []).append(sid)
    try:
        for rid, ids in by_row.items():
            ledger.hold_serials(session, sorted(set(ids)), ROW, rid, tr.target_location_id, actor)
    except errors.TracelotError as exc:
        raise errors.refuse(
            errors.IN_USE,
            "A serial this transfer delivered has moved on or "
            f"is held elsewhere ({exc.message}); the transfer cannot be "
            "stepped back.",
            path="status",
        ) from None


def delete_transfer(session: Session, tr: StockTransfer) -> None:
    if tr.status != "draft":
        raise errors.refuse(
            errors.IN_USE,
            "Only a draft transfer can be deleted: set it back to draft first.",
            path="status",
        )
    row_ids = list(
        session.scalars(
            select(StockTransferRow.id).where(StockTransferRow.stock_transfer_id == tr.id)
        )
    )
    for rid in row_ids:
        held = list(
            session.scalars(
                select(Serial.id).where(Serial.holder_type == ROW, Serial.holder_id == rid)
            )
        )
        ledger.release_serials(session, held, ROW, rid)
    session.execute(
        delete(BatchPick).where(BatchPick.resource_type == ROW, BatchPick.resource_id.in_(row_ids))
    )
    tr.deleted_at = utcnow()


def link_serials(session: Session, row_id: int, numbers: list[str], actor: str) -> list[int]:
    row = get(session, StockTransferRow, row_id, "Stock transfer row", path="resource_id")
    tr = get(session, StockTransfer, row.stock_transfer_id)
    if tr.status != "draft":
        raise errors.refuse(
            errors.IN_USE, "Serials can be added only to a draft transfer.", path="resource_id"
        )
    variant = serials.serial_variant(session, row.variant_id)
    ids = serials.find(session, variant.item_id, serials.expand_entries(numbers))
    held = (
        session.scalar(
            select(func.count()).where(Serial.holder_type == ROW, Serial.holder_id == row.id)
        )
        or 0
    )
    if held + len(ids) > row.quantity:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"The row moves {row.quantity}; too many serial numbers.",
            path="serial_numbers",
        )
    ledger.hold_serials(session, ids, ROW, row.id, tr.source_location_id, actor)
    return ids


def unlink_serials(session: Session, row_id: int, ids: list[int], actor: str) -> None:
    row = get(session, StockTransferRow, row_id, "Stock transfer row", path="resource_id")
    tr = get(session, StockTransfer, row.stock_transfer_id)
    if tr.status != "draft":
        raise errors.refuse(errors.IN_USE, "Serials leave only a draft transfer.", path="ids")
    mine = set(
        session.scalars(
            select(Serial.id).where(Serial.holder_type == ROW, Serial.holder_id == row.id)
        )
    )
    if not set(ids) <= mine:
        raise errors.refuse(
            errors.MISSING, "A serial number id is not on this transfer row.", path="ids"
        )
    ledger.release_serials(session, ids, ROW, row.id)


serials.register(ROW, link_serials, unlink_serials)

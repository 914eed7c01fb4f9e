"""Stock adjustments: add or remove stock, with batches or serials.

Also how untracked stock gets connected to serials (``connects_existing``):
the serials come in, the quantity stays. Deleting an adjustment reverses it
with new movements, refused once any unit it brought in has left.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import (
    Item,
    Location,
    Movement,
    Serial,
    SerialTransaction,
    StockAdjustment,
    StockAdjustmentRow,
    Variant,
)
from tracelot.domain import errors
from tracelot.services import batches, ledger, serials
from tracelot.services.common import apply, get
from tracelot.services.tracking import serial_gaps

ROW = "StockAdjustmentRow"
HEADER_FIELDS = {"stock_adjustment_number", "stock_adjustment_date", "reason", "additional_info"}


@dataclass
class _Row:
    row: StockAdjustmentRow
    changes: list[ledger.Change]


def create(session: Session, data: dict[str, Any], actor: str) -> StockAdjustment:
    loc = get(session, Location, data["location_id"], "Location", path="location_id")
    adj = StockAdjustment(
        location_id=loc.id, stock_adjustment_date=utcnow(), stock_adjustment_number=""
    )
    apply(adj, {k: v for k, v in data.items() if v is not None}, HEADER_FIELDS)
    session.add(adj)
    session.flush()
    if not adj.stock_adjustment_number:
        adj.stock_adjustment_number = f"SA-{adj.id}"
    rows = data.get("stock_adjustment_rows") or []
    if not rows:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "A stock adjustment needs at least one row.",
            path="stock_adjustment_rows",
        )
    planned = [_plan_row(session, adj, i, r) for i, r in enumerate(rows)]
    doc = ledger.Doc(
        reason="adjustment",
        resource_type=ROW,
        resource_id=0,
        user=actor,
        document=adj.stock_adjustment_number,
        when=adj.stock_adjustment_date,
        serial_status_out="removed",
    )
    for i, p in enumerate(planned):
        try:
            ledger.post(session, doc, p.changes)
        except errors.TracelotError as exc:
            raise _at_row(exc, f"stock_adjustment_rows[{i}]") from None
    return adj


def _at_row(exc: errors.TracelotError, row_path: str) -> errors.TracelotError:
    """The ledger's refusal, its paths (``quantity``, ``serial_numbers``) under the row."""
    details = [
        d
        if d.path.startswith("stock_adjustment_rows")
        else replace(d, path=f"{row_path}.{d.path}" if d.path else row_path)
        for d in exc.details
    ]
    return errors.TracelotError(exc.code, exc.message, details, exc.status)


def _plan_row(session: Session, adj: StockAdjustment, i: int, r: dict[str, Any]) -> _Row:
    path = f"stock_adjustment_rows[{i}]"
    variant = get(session, Variant, r["variant_id"], "Variant", path=f"{path}.variant_id")
    qty = Decimal(str(r["quantity"]))
    if qty == 0:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "A row's quantity must not be 0: positive adds stock, negative removes it.",
            path=f"{path}.quantity",
        )
    row = StockAdjustmentRow(
        stock_adjustment_id=adj.id,
        variant_id=variant.id,
        quantity=qty,
        cost_per_unit=r.get("cost_per_unit"),
        connects_existing=bool(r.get("connects_existing")),
    )
    session.add(row)
    session.flush()
    tracking = variant.item.tracking
    if tracking == "batch":
        changes = _batch_changes(session, variant, adj.location_id, qty, r, path)
    elif tracking == "serial":
        changes = [_serial_change(session, variant, adj.location_id, qty, r, path, row)]
    else:
        changes = [ledger.Change(variant.id, adj.location_id, qty)]
    for c in changes:
        c.resource_type, c.resource_id, c.cost_per_unit = ROW, row.id, row.cost_per_unit
    return _Row(row, changes)


def _batch_changes(
    session: Session, variant: Variant, location_id: int, qty: Decimal, r: dict[str, Any], path: str
) -> list[ledger.Change]:
    allocations = (
        [t for t in r.get("traceability") or [] if t.get("batch_id")]
        or r.get("batch_transactions")
        or []
    )
    if not allocations:
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"Variant {variant.sku} is batch-tracked:"
            " allocate the quantity to batches in batch_transactions.",
            path=f"{path}.batch_transactions",
        )
    sign = 1 if qty > 0 else -1
    by_number = [a for a in allocations if a.get("batch_number") and not a.get("batch_id")]
    if sign > 0:
        for j, a in enumerate(allocations):
            if a in by_number:
                batches.check_number(
                    a["batch_number"], f"{path}.batch_transactions[{j}].batch_number"
                )
        named = batches.find_or_create_many(session, variant.id, by_number)
    else:  # stock leaves existing batches only: a number that names none is a mistake
        named = batches.by_number(session, variant.id, [a["batch_number"] for a in by_number])
        unknown = [
            errors.Detail(
                f"{path}.batch_transactions[{j}].batch_number",
                errors.MISSING,
                f"Variant {variant.sku} has no batch '{a['batch_number']}': "
                "name one of its batches (or batch_id null for its unbatched stock).",
                {"batch_number": a["batch_number"]},
            )
            for j, a in enumerate(allocations)
            if a in by_number and a["batch_number"] not in named
        ]
        if unknown:
            raise errors.refuse_many(unknown)
    changes, total = [], Decimal(0)
    for j, a in enumerate(allocations):
        apath = f"{path}.batch_transactions[{j}]"
        amount = abs(Decimal(str(a.get("quantity") or 0)))
        if amount == 0:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                "Each batch allocation needs a quantity above 0.",
                path=f"{apath}.quantity",
            )
        batch_id = _allocation_batch(session, variant, a, named, apath)
        total += amount
        changes.append(ledger.Change(variant.id, location_id, sign * amount, batch_id))
    if total != abs(qty):
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"Batch allocations add up to {total} "
            f"but the row's quantity is {abs(qty)}: make them equal.",
            path=f"{path}.batch_transactions",
        )
    return changes


def _allocation_batch(
    session: Session, variant: Variant, a: dict[str, Any], named: dict[str, Any], path: str
) -> int | None:
    if a.get("batch_id"):
        return batches.of_variant(session, int(a["batch_id"]), variant.id, f"{path}.batch_id").id
    if a.get("batch_number") in named:
        b = named[a["batch_number"]]
        if a.get("expiration_date") and b.expiration_date != a["expiration_date"]:
            raise errors.refuse(
                errors.DUPLICATE,
                f"Batch '{b.batch_number}' exists with "
                f"expiry {b.expiration_date}; send that expiry or another "
                "batch number.",
                path=f"{path}.expiration_date",
            )
        return b.id
    return None  # the item's unbatched stock


def _serial_change(
    session: Session,
    variant: Variant,
    location_id: int,
    qty: Decimal,
    r: dict[str, Any],
    path: str,
    row: StockAdjustmentRow,
) -> ledger.Change:
    if qty != qty.to_integral_value():
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Serial-tracked quantities are whole units.",
            path=f"{path}.quantity",
        )
    count = int(abs(qty))
    numbers = serials.expand_entries(r.get("serial_numbers") or [])
    named = [
        int(t["serial_number_id"]) for t in r.get("traceability") or [] if t.get("serial_number_id")
    ]
    if len(numbers) + len(named) > count:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"{len(numbers) + len(named)} serial "
            f"numbers for a row of {count}: send at most {count}.",
            path=f"{path}.serial_numbers",
        )
    if qty > 0:
        ids = serials.mint(session, variant, numbers, f"{path}.serial_numbers") if numbers else []
        ids += serials.of_variant(session, variant.id, named, f"{path}.traceability")
        if row.connects_existing:
            _check_gap(session, variant, location_id, count, path)
            return ledger.Change(
                variant.id, location_id, Decimal(0), serial_ids=ids, serial_direction=1
            )
        return ledger.Change(variant.id, location_id, qty, serial_ids=ids)
    ids = (
        serials.find(session, variant.item_id, numbers, f"{path}.serial_numbers") if numbers else []
    )
    ids += serials.of_variant(session, variant.id, named, f"{path}.traceability")
    _refuse_held(session, ids, path)
    if len(ids) < count:
        _check_gap(session, variant, location_id, count - len(ids), path, leaving=True)
    return ledger.Change(variant.id, location_id, qty, serial_ids=ids)


def _check_gap(
    session: Session,
    variant: Variant,
    location_id: int,
    need: int,
    path: str,
    leaving: bool = False,
) -> None:
    gap = sum(
        int(g["missing_serial_numbers"])
        for g in serial_gaps(session, [variant.item_id])
        if g["variant_id"] == variant.id and g["location_id"] == location_id
    )
    if gap >= need:
        return
    if leaving:
        raise errors.refuse(
            errors.MISSING,
            f"Name the serial numbers of the {need} unit(s) "
            f"of {variant.sku} that leave stock (in traceability).",
            path=f"{path}.traceability",
        )
    raise errors.refuse(
        errors.QUANTITY_EXCEEDED,
        f"Only {gap} unit(s) of {variant.sku} here "
        f"are not connected to serials; cannot connect {need}.",
        path=f"{path}.quantity",
    )


def _refuse_held(session: Session, ids: list[int], path: str) -> None:
    held = session.execute(
        select(Serial.serial_number, Serial.holder_type, Serial.holder_id).where(
            Serial.id.in_(ids), Serial.holder_type.is_not(None), Serial.status == "reserved"
        )
    ).all()
    if held:
        raise errors.refuse_many(
            [
                errors.Detail(
                    f"{path}.traceability",
                    errors.NOT_IN_STOCK,
                    f"Serial number '{h.serial_number}' is held by {h.holder_type} {h.holder_id}: "
                    "release it there first.",
                    {"serial_number": h.serial_number},
                )
                for h in held
            ]
        )


def delete(session: Session, adj: StockAdjustment, actor: str) -> None:
    """Reverse every movement of the adjustment; refused once its units have moved on."""
    row_ids = list(
        session.scalars(
            select(StockAdjustmentRow.id).where(StockAdjustmentRow.stock_adjustment_id == adj.id)
        )
    )
    moves = session.scalars(
        select(Movement)
        .where(Movement.resource_type == ROW, Movement.resource_id.in_(row_ids))
        .order_by(Movement.id)
    ).all()
    doc = ledger.Doc(
        reason="revert",
        resource_type=ROW,
        resource_id=0,
        user=actor,
        document=f"{adj.stock_adjustment_number} (deleted)",
    )
    for m in moves:
        txs = session.execute(
            select(SerialTransaction.serial_id, SerialTransaction.quantity_change).where(
                SerialTransaction.movement_id == m.id
            )
        ).all()
        direction = -txs[0].quantity_change if txs else 0
        change = ledger.Change(
            m.variant_id,
            m.location_id,
            -m.quantity,
            m.batch_id,
            [t.serial_id for t in txs],
            resource_type=ROW,
            resource_id=m.resource_id,
            serial_direction=direction,
        )
        try:
            if direction < 0:
                _refuse_held(session, list(change.serial_ids), "stock_adjustment_rows")
            ledger.post(session, doc, [change])
        except errors.TracelotError as exc:
            raise errors.refuse(
                errors.IN_USE,
                f"Adjustment {adj.stock_adjustment_number} "
                f"cannot be deleted: its units have moved on ({exc.message}).",
                path="id",
            ) from None
    session.execute(
        update(SerialTransaction)
        .where(SerialTransaction.resource_type == ROW, SerialTransaction.resource_id.in_(row_ids))
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )
    adj.deleted_at = utcnow()


def missing_serials(session: Session, rows: list[StockAdjustmentRow]) -> dict[int, int]:
    """Per positive serial row: quantity minus serials minted or connected on it."""
    ids = [r.id for r in rows]
    linked = dict(
        session.execute(
            select(SerialTransaction.resource_id, func.count())
            .where(
                SerialTransaction.resource_type == ROW,
                SerialTransaction.resource_id.in_(ids),
                SerialTransaction.quantity_change == 1,
                SerialTransaction.is_active.is_(True),
            )
            .group_by(SerialTransaction.resource_id)
        ).all()
    )
    serial_variants = set(
        session.scalars(
            select(Variant.id)
            .join(Item, Item.id == Variant.item_id)
            .where(Variant.id.in_({r.variant_id for r in rows}), Item.tracking == "serial")
        )
    )
    return {
        r.id: max(0, int(r.quantity) - linked.get(r.id, 0))
        if r.variant_id in serial_variants and r.quantity > 0
        else 0
        for r in rows
    }


def link_serials(session: Session, row_id: int, numbers: list[str], actor: str) -> list[int]:
    """POST /serial_numbers on a row: mint (+1) on a positive row, assign (-1) on a negative."""
    row = get(session, StockAdjustmentRow, row_id, "Stock adjustment row", path="resource_id")
    adj = get(session, StockAdjustment, row.stock_adjustment_id)
    variant = serials.serial_variant(session, row.variant_id)
    numbers = serials.expand_entries(numbers)
    done = _linked_count(session, row.id)
    if done + len(numbers) > abs(int(row.quantity)):
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"The row has {abs(int(row.quantity))} "
            f"unit(s) and {done} serial(s) already; cannot add {len(numbers)}.",
            path="serial_numbers",
        )
    doc = ledger.Doc(
        reason="adjustment",
        resource_type=ROW,
        resource_id=row.id,
        user=actor,
        document=adj.stock_adjustment_number,
    )
    if row.quantity > 0:
        ids = serials.mint(session, variant, numbers)
        ledger.post(
            session,
            doc,
            [
                ledger.Change(
                    variant.id,
                    adj.location_id,
                    Decimal(0),
                    serial_ids=ids,
                    serial_direction=1,
                )
            ],
        )
    else:
        ids = serials.find(session, variant.item_id, numbers)
        _refuse_held(session, ids, "serial_numbers")
        ledger.post(
            session,
            doc,
            [
                ledger.Change(
                    variant.id,
                    adj.location_id,
                    Decimal(0),
                    serial_ids=ids,
                    serial_direction=-1,
                )
            ],
        )
    return ids


def _linked_count(session: Session, row_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                SerialTransaction.resource_type == ROW,
                SerialTransaction.resource_id == row_id,
                SerialTransaction.quantity_change != 0,
                SerialTransaction.is_active.is_(True),
            )
        )
        or 0
    )


def unlink_serials(session: Session, row_id: int, ids: list[int], actor: str) -> None:
    """Undo a mint or assignment on a row, while the serial has not moved since."""
    row = get(session, StockAdjustmentRow, row_id, "Stock adjustment row", path="resource_id")
    adj = get(session, StockAdjustment, row.stock_adjustment_id)
    links = session.execute(
        select(SerialTransaction.serial_id, SerialTransaction.id).where(
            SerialTransaction.resource_type == ROW,
            SerialTransaction.resource_id == row_id,
            SerialTransaction.serial_id.in_(ids),
            SerialTransaction.is_active.is_(True),
        )
    ).all()
    linked = {lk.serial_id for lk in links}
    missing = [i for i in ids if i not in linked]
    if missing:
        raise errors.refuse(
            errors.MISSING,
            f"Serial number id {missing[0]} is not linked to stock adjustment row {row_id}.",
            path="ids",
        )
    later = session.scalar(
        select(func.count()).where(
            SerialTransaction.serial_id.in_(ids),
            SerialTransaction.id > min(lk.id for lk in links),
            SerialTransaction.resource_type != ROW,
        )
    )
    if later:
        raise errors.refuse(
            errors.IN_USE,
            "A serial has moved or been held since it was linked here; undo that first.",
            path="ids",
        )
    doc = ledger.Doc(
        reason="revert",
        resource_type=ROW,
        resource_id=row_id,
        user=actor,
        document=adj.stock_adjustment_number,
    )
    direction = -1 if row.quantity > 0 else 1
    ledger.post(
        session,
        doc,
        [
            ledger.Change(
                row.variant_id,
                adj.location_id,
                Decimal(0),
                serial_ids=ids,
                serial_direction=direction,
            )
        ],
    )
    session.execute(
        update(SerialTransaction)
        .where(
            SerialTransaction.resource_type == ROW,
            SerialTransaction.resource_id == row_id,
            SerialTransaction.serial_id.in_(ids),
        )
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )


serials.register(ROW, link_serials, unlink_serials)

"""CSV of an item's tracking records and their history (export, and the removal archive).

One file format serves both: a ``record`` column says what each line is
(``batch``, ``serial``, ``batch_movement``, ``serial_transaction``), so a
single download holds everything that removal would lose.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Batch,
    Item,
    Location,
    Movement,
    Serial,
    SerialTransaction,
    Stock,
    Variant,
)

COLUMNS = [
    "record",
    "item",
    "sku",
    "batch_number",
    "expiration_date",
    "batch_barcode",
    "serial_number",
    "status",
    "location",
    "quantity",
    "date",
    "reason",
    "resource_type",
    "resource_id",
    "user",
]


def tracking_rows(session: Session, item: Item) -> Iterator[dict[str, object]]:
    """Every batch/serial record of the item, then its history, as CSV dicts."""
    variant_ids = [v.id for v in item.variants]
    locs = dict(session.execute(select(Location.id, Location.name)).all())
    skus = {v.id: v.sku for v in item.variants}
    base = {"item": item.name}
    batches = session.scalars(
        select(Batch).where(Batch.variant_id.in_(variant_ids)).order_by(Batch.id)
    ).all()
    stock = session.execute(
        select(Stock.batch_id, Stock.location_id, Stock.quantity).where(
            Stock.batch_id.in_([b.id for b in batches])
        )
    ).all()
    for b in batches:
        held = [(r.location_id, r.quantity) for r in stock if r.batch_id == b.id and r.quantity]
        for location_id, quantity in held or [(None, 0)]:
            yield {
                **base,
                "record": "batch",
                "sku": skus[b.variant_id],
                "batch_number": b.batch_number,
                "expiration_date": b.expiration_date or "",
                "batch_barcode": b.batch_barcode or "",
                "location": locs.get(location_id, "") if location_id else "",
                "quantity": quantity,
                "date": b.batch_created_date or "",
            }
    for m in session.scalars(
        select(Movement)
        .where(Movement.variant_id.in_(variant_ids), Movement.batch_id.is_not(None))
        .order_by(Movement.id)
    ):
        number = next((b.batch_number for b in batches if b.id == m.batch_id), "")
        yield {
            **base,
            "record": "batch_movement",
            "sku": skus[m.variant_id],
            "batch_number": number,
            "location": locs.get(m.location_id, ""),
            "quantity": m.quantity,
            "date": m.movement_date,
            "reason": m.reason,
            "resource_type": m.resource_type,
            "resource_id": m.resource_id,
            "user": m.user,
        }
    serials = select(Serial).where(Serial.item_id == item.id).order_by(Serial.id)
    for s in session.scalars(serials):
        yield {
            **base,
            "record": "serial",
            "sku": skus.get(s.variant_id),
            "serial_number": s.serial_number,
            "status": s.status,
            "location": locs.get(s.location_id, "") if s.location_id else "",
            "date": s.created_at,
        }
    history = (
        select(SerialTransaction, Serial.serial_number, Serial.variant_id)
        .join(Serial, Serial.id == SerialTransaction.serial_id)
        .where(Serial.item_id == item.id)
        .order_by(SerialTransaction.id)
    )
    for t, number, vid in session.execute(history):
        yield {
            **base,
            "record": "serial_transaction",
            "sku": skus.get(vid),
            "serial_number": number,
            "quantity": t.quantity_change,
            "date": t.transaction_date,
            "reason": t.reason or "",
            "resource_type": t.resource_type,
            "resource_id": t.resource_id,
            "user": t.user or "",
        }


def to_csv(rows: Iterator[dict[str, object]], columns: list[str] = COLUMNS) -> tuple[str, int]:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return buf.getvalue(), count


def tracking_csv(session: Session, item: Item) -> tuple[str, int]:
    return to_csv(tracking_rows(session, item))


def variant_ids_of(session: Session, item_id: int) -> list[int]:
    return list(session.scalars(select(Variant.id).where(Variant.item_id == item_id)))

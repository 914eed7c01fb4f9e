"""Carrying out a change of an item's tracking (SPEC §1), decided by the domain rule."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import (
    Batch,
    BatchPick,
    Genealogy,
    Item,
    Movement,
    Production,
    Serial,
    SerialTransaction,
    Stock,
    TrackingArchive,
)
from tracelot.db.sql import upsert
from tracelot.domain.tracking import Tracking, TrackingChange, plan_change
from tracelot.services import exports, ledger


def change(
    session: Session, item: Item, wanted: Tracking, *, confirmed: bool, actor: str
) -> TrackingChange:
    current = Tracking(item.tracking)
    vids = [v.id for v in item.variants]
    plan = plan_change(
        current,
        wanted,
        has_stock=_has_stock(session, vids),
        has_records=_has_records(session, item, vids),
        confirmed=confirmed,
        item_name=item.name,
    )
    if plan is TrackingChange.UNBATCH_STOCK:
        _unbatch(session, item, vids, actor)
    elif plan is TrackingChange.ARCHIVE_AND_REMOVE:
        archive(session, item, actor)
        _remove_records(session, item, vids)
    item.tracking = str(wanted)
    item.updated_at = utcnow()
    session.flush()
    return plan


def _has_stock(session: Session, vids: list[int]) -> bool:
    return bool(
        session.scalar(select(exists().where(Stock.variant_id.in_(vids), Stock.quantity != 0)))
    )


def _has_records(session: Session, item: Item, vids: list[int]) -> bool:
    batches = exists().where(Batch.variant_id.in_(vids))
    serials = exists().where(Serial.item_id == item.id)
    return bool(session.scalar(select(or_(batches, serials))))


def _unbatch(session: Session, item: Item, vids: list[int], actor: str) -> None:
    """Existing stock becomes the item's 'unbatched' stock, recorded as a ledger pair."""
    rows = session.execute(
        select(Stock.variant_id, Stock.location_id, Stock.quantity).where(
            Stock.variant_id.in_(vids), Stock.batch_key == 0, Stock.quantity > 0
        )
    ).all()
    doc = ledger.Doc(
        reason="tracking_change",
        resource_type="Item",
        resource_id=item.id,
        user=actor,
        document=f"{item.name}: none -> batch (unbatched)",
    )
    changes: list[ledger.Change] = []
    for r in rows:
        qty = Decimal(r.quantity)
        changes += [
            ledger.Change(r.variant_id, r.location_id, -qty),
            ledger.Change(r.variant_id, r.location_id, qty),
        ]
    ledger.post(session, doc, changes)


def archive(session: Session, item: Item, actor: str) -> TrackingArchive:
    content, count = exports.tracking_csv(session, item)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    arch = TrackingArchive(
        item_id=item.id,
        item_name=item.name,
        tracking=item.tracking,
        record_count=count,
        content=content,
        user=actor,
        file_name=f"tracking-{item.id}-{item.tracking}-{stamp}.csv",
    )
    session.add(arch)
    session.flush()
    return arch


def _remove_records(session: Session, item: Item, vids: list[int]) -> None:
    """Drop batches and serials in bulk; stock folds into the unbatched row per location.

    Whatever still points at them keeps its row and loses only the link, as
    the archive (written first) has it: movements and productions forget the
    batch, genealogy links name an untracked quantity of the variant instead
    (as for any untracked ingredient or output), serial history and batch
    picks go. Every statement is set-based: a fixed number whatever the item holds.
    """
    opts = {"synchronize_session": False}
    serial_ids = select(Serial.id).where(Serial.item_id == item.id)
    batch_ids = select(Batch.id).where(Batch.variant_id.in_(vids))
    for column, removed in (
        (Genealogy.output_serial_id, serial_ids),
        (Genealogy.input_serial_id, serial_ids),
        (Genealogy.output_batch_id, batch_ids),
        (Genealogy.input_batch_id, batch_ids),
    ):
        session.execute(
            update(Genealogy)
            .where(column.in_(removed))
            .values({column.key: None})
            .execution_options(**opts)
        )
    session.execute(
        update(Production)
        .where(Production.batch_id.in_(batch_ids))
        .values(batch_id=None)
        .execution_options(**opts)
    )
    session.execute(
        delete(SerialTransaction)
        .where(SerialTransaction.serial_id.in_(serial_ids))
        .execution_options(**opts)
    )
    session.execute(delete(Serial).where(Serial.item_id == item.id).execution_options(**opts))
    merged = (
        select(
            Stock.variant_id, Stock.location_id, literal(None), literal(0), func.sum(Stock.quantity)
        )
        .where(Stock.variant_id.in_(vids), Stock.batch_key != 0)
        .group_by(Stock.variant_id, Stock.location_id)
    )
    ins = upsert(session, Stock).from_select(
        ["variant_id", "location_id", "batch_id", "batch_key", "quantity"], merged
    )
    session.execute(
        ins.on_conflict_do_update(
            index_elements=["variant_id", "location_id", "batch_key"],
            set_={"quantity": Stock.quantity + ins.excluded.quantity},
        )
    )
    session.execute(
        delete(Stock)
        .where(Stock.variant_id.in_(vids), Stock.batch_key != 0)
        .execution_options(**opts)
    )
    session.execute(
        update(Movement)
        .where(Movement.batch_id.in_(batch_ids))
        .values(batch_id=None)
        .execution_options(**opts)
    )
    session.execute(
        delete(BatchPick).where(BatchPick.batch_id.in_(batch_ids)).execution_options(**opts)
    )
    session.execute(delete(Batch).where(Batch.variant_id.in_(vids)).execution_options(**opts))


def serial_gaps(session: Session, item_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Per variant and location of serial items: units on hand not connected to a serial."""
    on_hand = (
        select(Stock.variant_id, Stock.location_id, func.sum(Stock.quantity).label("qty"))
        .group_by(Stock.variant_id, Stock.location_id)
        .subquery()
    )
    serials = (
        select(Serial.variant_id, Serial.location_id, func.count().label("n"))
        .where(Serial.status.in_(ledger.ON_HAND))
        .group_by(Serial.variant_id, Serial.location_id)
        .subquery()
    )
    from tracelot.db.models import Variant

    q = (
        select(
            on_hand.c.variant_id,
            on_hand.c.location_id,
            on_hand.c.qty,
            func.coalesce(serials.c.n, 0).label("n"),
            Item.id.label("item_id"),
        )
        .join(Variant, Variant.id == on_hand.c.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .outerjoin(
            serials,
            (serials.c.variant_id == on_hand.c.variant_id)
            & (serials.c.location_id == on_hand.c.location_id),
        )
        .where(Item.tracking == "serial")
    )
    if item_ids is not None:
        q = q.where(Item.id.in_(item_ids))
    return [
        {
            "item_id": r.item_id,
            "variant_id": r.variant_id,
            "location_id": r.location_id,
            "quantity_in_stock": Decimal(r.qty),
            "serials_in_stock": int(r.n),
            "missing_serial_numbers": Decimal(r.qty) - int(r.n),
        }
        for r in session.execute(q)
        if Decimal(r.qty) - int(r.n) > 0
    ]

"""Read models for the pages: lists and cards as plain SELECTs (writes go to services).

Each list is built as one query that the pager counts and slices in the
database, so a page costs the same with 50 rows or 100,000.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Batch,
    Item,
    Location,
    Movement,
    Serial,
    Stock,
    TrackingArchive,
    Variant,
)
from tracelot.db.sql import AnySelect


def _like(text: str) -> str:
    return f"%{text.strip()}%"


def items(q: str, kind: str, tracking: str) -> AnySelect:
    on_hand = (
        select(Variant.item_id, func.sum(Stock.quantity).label("qty"))
        .join(Stock, Stock.variant_id == Variant.id)
        .group_by(Variant.item_id)
        .subquery()
    )
    skus = (
        select(
            Variant.item_id,
            func.min(Variant.sku).label("sku"),
            func.count(Variant.id).label("variants"),
        )
        .where(Variant.deleted_at.is_(None))
        .group_by(Variant.item_id)
        .subquery()
    )
    query = (
        select(
            Item.id,
            Item.name,
            Item.type,
            Item.tracking,
            Item.uom,
            skus.c.sku,
            skus.c.variants,
            func.coalesce(on_hand.c.qty, 0).label("in_stock"),
        )
        .outerjoin(on_hand, on_hand.c.item_id == Item.id)
        .outerjoin(skus, skus.c.item_id == Item.id)
        .where(Item.deleted_at.is_(None))
        .order_by(Item.name, Item.id)
    )
    if q:
        has_sku = exists().where(Variant.item_id == Item.id, Variant.sku.ilike(_like(q)))
        query = query.where(or_(Item.name.ilike(_like(q)), has_sku))
    if kind:
        query = query.where(Item.type == kind)
    if tracking:
        query = query.where(Item.tracking == tracking)
    return query


def item_stock(session: Session, item: Item) -> list[Any]:
    """Quantity per variant and location (batches summed)."""
    return list(
        session.execute(
            select(
                Variant.sku, Location.name.label("location"), func.sum(Stock.quantity).label("qty")
            )
            .join(Stock, Stock.variant_id == Variant.id)
            .join(Location, Location.id == Stock.location_id)
            .where(Variant.item_id == item.id)
            .group_by(Variant.sku, Location.name)
            .having(func.sum(Stock.quantity) != 0)
            .order_by(Variant.sku, Location.name)
        )
    )


def archives(session: Session, item_id: int) -> list[TrackingArchive]:
    return list(
        session.scalars(
            select(TrackingArchive)
            .where(TrackingArchive.item_id == item_id)
            .order_by(TrackingArchive.id.desc())
        )
    )


def has_stock(session: Session, item: Item) -> bool:
    vids = [v.id for v in item.variants]
    return bool(
        session.scalar(select(exists().where(Stock.variant_id.in_(vids), Stock.quantity != 0)))
    )


def record_counts(session: Session, item: Item) -> tuple[int, int]:
    """How many batches and serials the item has (what removing tracking would remove)."""
    vids = [v.id for v in item.variants]
    batches = (
        session.scalar(select(func.count()).select_from(Batch).where(Batch.variant_id.in_(vids)))
        or 0
    )
    serials = (
        session.scalar(select(func.count()).select_from(Serial).where(Serial.item_id == item.id))
        or 0
    )
    return int(batches), int(serials)


def tracking_effects(session: Session, item: Item, plan: str) -> dict[str, Any]:
    """The numbers the confirmation page shows before a tracking change."""
    vids = [v.id for v in item.variants]
    untracked = session.execute(
        select(
            func.coalesce(func.sum(Stock.quantity), 0), func.count(func.distinct(Stock.location_id))
        ).where(Stock.variant_id.in_(vids), Stock.batch_key == 0, Stock.quantity > 0)
    ).one()
    batches, serials = record_counts(session, item)
    return {
        "untracked_qty": Decimal(untracked[0]),
        "locations": int(untracked[1]),
        "batches": batches,
        "serials": serials,
        "plan": plan,
    }


# --- stock ---------------------------------------------------------------------------


def batch_stock(q: str, show_empty: bool, location_id: int | None) -> AnySelect:
    """One row per batch and location; batches without stock only when asked."""
    query = (
        select(
            Batch.id,
            Batch.batch_number,
            Batch.expiration_date,
            Batch.hold_reason,
            Variant.sku,
            Item.name.label("item"),
            Item.id.label("item_id"),
            Location.name.label("location"),
            Stock.quantity,
        )
        .join(Variant, Variant.id == Batch.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .outerjoin(Stock, Stock.batch_id == Batch.id)
        .outerjoin(Location, Location.id == Stock.location_id)
        .order_by(
            Batch.expiration_date.is_(None),
            Batch.expiration_date,
            Batch.batch_number,
            Batch.id,
            Location.name,
        )
    )
    if not show_empty:
        query = query.where(Stock.quantity > 0)
    if location_id:
        query = query.where(Stock.location_id == location_id)
    if q:
        query = query.where(
            or_(
                Batch.batch_number.ilike(_like(q)),
                Variant.sku.ilike(_like(q)),
                Item.name.ilike(_like(q)),
            )
        )
    return query


def serial_list(q: str, status: str, location_id: int | None) -> AnySelect:
    query = (
        select(
            Serial.id,
            Serial.serial_number,
            Serial.status,
            Serial.holder_type,
            Serial.holder_id,
            Serial.hold_reason,
            Variant.sku,
            Item.name.label("item"),
            Item.id.label("item_id"),
            Location.name.label("location"),
        )
        .join(Variant, Variant.id == Serial.variant_id)
        .join(Item, Item.id == Serial.item_id)
        .outerjoin(Location, Location.id == Serial.location_id)
        .where(Serial.status != "pending")
        .order_by(Serial.serial_number, Serial.id)
    )
    if q:
        query = query.where(or_(Serial.serial_number.ilike(_like(q)), Variant.sku.ilike(_like(q))))
    if status:
        query = query.where(Serial.status == status)
    if location_id:
        query = query.where(Serial.location_id == location_id)
    return query


def locations(session: Session) -> list[Location]:
    return list(
        session.scalars(
            select(Location).where(Location.deleted_at.is_(None)).order_by(Location.name)
        )
    )


def batch_card(session: Session, batch_id: int) -> Any:
    return session.execute(
        select(Batch, Variant.sku, Item.name.label("item"), Item.id.label("item_id"))
        .join(Variant, Variant.id == Batch.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .where(Batch.id == batch_id)
    ).one_or_none()


def batch_locations(session: Session, batch_id: int) -> list[Any]:
    return list(
        session.execute(
            select(Location.name, Stock.quantity)
            .join(Location, Location.id == Stock.location_id)
            .where(Stock.batch_id == batch_id, Stock.quantity != 0)
            .order_by(Location.name)
        )
    )


def batch_movements(batch_id: int) -> AnySelect:
    return (
        select(
            Movement.id,
            Movement.movement_date,
            Movement.reason,
            Movement.document,
            Movement.quantity,
            Movement.balance_after,
            Movement.user,
            Movement.resource_type,
            Movement.resource_id,
            Location.name.label("location"),
        )
        .join(Location, Location.id == Movement.location_id)
        .where(Movement.batch_id == batch_id)
        .order_by(Movement.id.desc())
    )


def lot_codes(session: Session, batch_ids: list[int], serial_ids: list[int]) -> list[str]:
    """The lot codes (batch and serial numbers) of lots given by id, as FSMA 204 takes them."""
    codes: list[str] = []
    if batch_ids:
        codes += session.scalars(select(Batch.batch_number).where(Batch.id.in_(batch_ids)))
    if serial_ids:
        codes += session.scalars(select(Serial.serial_number).where(Serial.id.in_(serial_ids)))
    return sorted(set(codes))

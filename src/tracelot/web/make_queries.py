"""Read models of the Make screens: the MO list, one MO, and the production dialog.

The dialog's proposal is advice the user edits: every usable batch of each
batch ingredient at the MO's location, FEFO-ordered, with the FEFO quantity
pre-filled (``picking.propose_batches``); the production itself re-checks
everything in ``services.manufacturing.produce``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Batch,
    Item,
    Location,
    ManufacturingOrder,
    ManufacturingOrderRecipeRow,
    Production,
    SalesOrder,
    Stock,
    Variant,
)
from tracelot.db.sql import AnySelect
from tracelot.domain import picking as fefo_rules
from tracelot.domain.numbering import DEFAULT_PATTERN
from tracelot.services import manufacturing, picking

STATUSES = ["NOT_STARTED", "BLOCKED", "IN_PROGRESS", "PARTIALLY_COMPLETED", "DONE"]
BATCH_CHOICES = 20


def mo_list(q: str, status: str) -> AnySelect:
    """Newest first; paged by the caller (``paging.paged``)."""
    query = (
        select(
            ManufacturingOrder.id,
            ManufacturingOrder.order_no,
            manufacturing.status_column().label("status"),  # as of now, as the API reads it
            ManufacturingOrder.planned_quantity,
            ManufacturingOrder.completed_quantity,
            ManufacturingOrder.production_deadline_date,
            ManufacturingOrder.sales_order_id,
            SalesOrder.order_no.label("sales_order_no"),
            Variant.sku,
            Item.name.label("item"),
            Item.uom,
            Location.name.label("location"),
        )
        .join(Variant, Variant.id == ManufacturingOrder.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .join(Location, Location.id == ManufacturingOrder.location_id)
        .outerjoin(SalesOrder, SalesOrder.id == ManufacturingOrder.sales_order_id)
        .where(ManufacturingOrder.deleted_at.is_(None))
        .order_by(ManufacturingOrder.id.desc())
    )
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            or_(
                ManufacturingOrder.order_no.ilike(like),
                Item.name.ilike(like),
                Variant.sku.ilike(like),
            )
        )
    if status:
        query = query.where(manufacturing.status_column() == status)
    return query


def mo_header(session: Session, mo_id: int) -> Any:
    return session.execute(
        select(
            ManufacturingOrder,
            manufacturing.status_column().label("status"),
            Variant.sku,
            Item.id.label("item_id"),
            Item.name.label("item"),
            Item.tracking,
            Item.uom,
            Item.serial_pattern,
            Location.name.label("location"),
            SalesOrder.order_no.label("sales_order_no"),
        )
        .join(Variant, Variant.id == ManufacturingOrder.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .join(Location, Location.id == ManufacturingOrder.location_id)
        .outerjoin(SalesOrder, SalesOrder.id == ManufacturingOrder.sales_order_id)
        .where(ManufacturingOrder.id == mo_id, ManufacturingOrder.deleted_at.is_(None))
    ).one_or_none()


def recipe_rows(session: Session, mo: ManufacturingOrder) -> list[Any]:
    """Ingredient rows with item, tracking and what is on hand at the MO's location."""
    on_hand = (
        select(func.coalesce(func.sum(Stock.quantity), 0))
        .where(
            Stock.variant_id == ManufacturingOrderRecipeRow.variant_id,
            Stock.location_id == mo.location_id,
        )
        .correlate(ManufacturingOrderRecipeRow)
        .scalar_subquery()
    )
    return list(
        session.execute(
            select(
                ManufacturingOrderRecipeRow,
                Variant.sku,
                Item.name.label("item"),
                Item.tracking,
                Item.uom,
                on_hand.label("on_hand"),
            )
            .join(Variant, Variant.id == ManufacturingOrderRecipeRow.variant_id)
            .join(Item, Item.id == Variant.item_id)
            .where(
                ManufacturingOrderRecipeRow.manufacturing_order_id == mo.id,
                ManufacturingOrderRecipeRow.deleted_at.is_(None),
            )
            .order_by(ManufacturingOrderRecipeRow.id)
        )
    )


def productions(session: Session, mo_id: int) -> list[dict[str, Any]]:
    """Active productions, newest first, with their output batch or serial numbers."""
    prods = list(
        session.execute(
            select(Production, Batch.batch_number, Batch.expiration_date)
            .outerjoin(Batch, Batch.id == Production.batch_id)
            .where(Production.manufacturing_order_id == mo_id, Production.deleted_at.is_(None))
            .order_by(Production.id.desc())
        )
    )
    serials: dict[int, list[Any]] = {}
    for pid, serial, _ in manufacturing.produced_serials(session, [p[0].id for p in prods]):
        serials.setdefault(pid, []).append(serial)
    return [
        {
            "p": p,
            "batch_number": number,
            "expiration_date": expiry,
            "serials": serials.get(p.id, []),
        }
        for p, number, expiry in prods
    ]


@dataclass
class IngredientPlan:
    """One recipe row in the production dialog: what it needs and the proposal."""

    row: ManufacturingOrderRecipeRow
    sku: str
    item: str
    tracking: str
    uom: str | None
    need: Decimal
    batches: list[dict[str, Any]] = field(default_factory=list)
    short: Decimal = Decimal(0)


def production_plan(session: Session, mo: ManufacturingOrder, qty: Decimal) -> list[IngredientPlan]:
    """What ``qty`` more units take, with FEFO-proposed batches (all usable ones listed)."""
    today = date.today()
    plans = []
    for r in recipe_rows(session, mo):
        row = r.ManufacturingOrderRecipeRow
        plan = IngredientPlan(
            row, r.sku, r.item, r.tracking, r.uom, row.planned_quantity_per_unit * qty
        )
        if r.tracking == "batch":
            plan.batches, plan.short = _batch_choices(session, row.variant_id, mo, plan.need, today)
        plans.append(plan)
    return plans


def _batch_choices(
    session: Session, variant_id: int, mo: ManufacturingOrder, need: Decimal, today: date
) -> tuple[list[dict[str, Any]], Decimal]:
    stocks = picking.batch_stocks(session, variant_id, mo.location_id)
    proposal = picking.propose_batches(session, variant_id, mo.location_id, need, today=today)
    take = {p.batch_id: p.quantity for p in proposal.picks}
    usable = sorted(
        (s for s in stocks if s.hold_reason is None),
        key=lambda s: (s.expiration_date is None, s.expiration_date or date.max, s.batch_number),
    )
    choices = [
        {
            "batch_id": s.batch_id,
            "batch_number": s.batch_number,
            "expiration_date": s.expiration_date,
            "available": s.available,
            "expired": fefo_rules.is_expired(s.expiration_date, today),
            "take": take.get(s.batch_id, Decimal(0)),
        }
        for s in usable[:BATCH_CHOICES]
    ]
    return choices, proposal.short


def pattern_of(serial_pattern: str | None) -> str:
    return serial_pattern or DEFAULT_PATTERN


def product_variants(session: Session, limit: int = 500) -> list[Any]:
    """Variants that can be made (products with a recipe first), for the create form."""
    return list(
        session.execute(
            select(Variant.id, Variant.sku, Item.name.label("item"))
            .join(Item, Item.id == Variant.item_id)
            .where(
                Item.deleted_at.is_(None),
                Variant.deleted_at.is_(None),
                Item.type == "product",
            )
            .order_by(Item.name, Variant.sku)
            .limit(limit)
        )
    )


def locations(session: Session) -> list[Location]:
    return list(
        session.scalars(
            select(Location).where(Location.deleted_at.is_(None)).order_by(Location.name)
        )
    )

"""Tracing issues: everything that needs attention, each with a link to fix it."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import Request
from sqlalchemy import func, select
from starlette.responses import Response

from tracelot.db.models import Batch, Item, Location, SalesOrder, Stock, Variant
from tracelot.services import tracking
from tracelot.web.deps import Db, signed_in_router
from tracelot.web.render import page as render

router = signed_in_router()
SOON_DAYS = 30
LIMIT = 200  # each section shows the most urgent; the Sell/Stock filters list the rest


@router.get("/issues")
def issues(request: Request, db: Db) -> Response:
    orders = db.execute(
        select(
            SalesOrder.id, SalesOrder.order_no, SalesOrder.status, SalesOrder.missing_serial_numbers
        )
        .where(SalesOrder.tracing_status == "missing", SalesOrder.deleted_at.is_(None))
        .order_by(SalesOrder.id)
        .limit(LIMIT)
    ).all()
    missing_total = db.scalar(
        select(func.count()).where(
            SalesOrder.tracing_status == "missing", SalesOrder.deleted_at.is_(None)
        )
    )
    gaps = tracking.serial_gaps(db)
    names = _names(db, {g["variant_id"] for g in gaps}, {g["location_id"] for g in gaps})
    horizon = date.today() + timedelta(days=SOON_DAYS)
    expiring = db.execute(
        select(
            Batch.id,
            Batch.batch_number,
            Batch.expiration_date,
            Variant.sku,
            Location.name.label("location"),
            Stock.quantity,
        )
        .join(Stock, Stock.batch_id == Batch.id)
        .join(Variant, Variant.id == Batch.variant_id)
        .join(Location, Location.id == Stock.location_id)
        .where(Stock.quantity > 0, Batch.expiration_date <= horizon)
        .order_by(Batch.expiration_date)
        .limit(LIMIT)
    ).all()
    return render(
        request,
        "issues.html",
        "issues",
        orders=orders,
        missing_total=missing_total,
        gaps=gaps,
        names=names,
        expiring=expiring,
        soon_days=SOON_DAYS,
    )


def _names(db: Db, vids: set[int], lids: set[int]) -> dict[str, dict[int, object]]:
    variants = db.execute(
        select(Variant.id, Variant.sku, Item.id.label("item_id"))
        .join(Item, Item.id == Variant.item_id)
        .where(Variant.id.in_(vids))
    ).all()
    locs = dict(db.execute(select(Location.id, Location.name).where(Location.id.in_(lids))).all())
    return {
        "sku": {v.id: v.sku for v in variants},
        "item": {v.id: v.item_id for v in variants},
        "location": locs,
    }

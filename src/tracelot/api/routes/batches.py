"""Batches and batch stock."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import and_, exists, literal, null, select, union_all

from tracelot.api import out
from tracelot.api.deps import Db, Paging, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import BatchCreate, BatchUpdate
from tracelot.api.serialize import clean, dec, iso, parse_datetime
from tracelot.db.models import Batch, Item, Stock, Variant
from tracelot.services import batches
from tracelot.services.common import get

router = api_router("batches")


@router.post("/batches")
def create_batch(body: BatchCreate, db: Db) -> dict[str, Any]:
    return out.batch(batches.create_batch(db, body.sent()))


@router.get("/batches", dependencies=[allow_filters("variant_id", "batch_number")])
def list_batches(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    variant_id: int | None = None,
    batch_number: str | None = None,
) -> dict[str, Any]:
    q = common_filters(select(Batch).order_by(Batch.id.desc()), Batch, request)
    if variant_id:
        q = q.where(Batch.variant_id == variant_id)
    if batch_number:
        q = q.where(Batch.batch_number == batch_number)
    return {"data": [out.batch(b) for b in paginate(db, q, paging, response)]}


@router.get("/batches/{batch_id}")
def get_batch(batch_id: int, db: Db) -> dict[str, Any]:
    return out.batch(get(db, Batch, batch_id))


@router.patch("/batch_stocks/{batch_id}")
def update_batch(batch_id: int, body: BatchUpdate, db: Db) -> dict[str, Any]:
    return out.batch(batches.update_batch(db, get(db, Batch, batch_id), body.sent()))


@router.get(
    "/batch_stocks",
    dependencies=[
        allow_filters(
            "batch_id",
            "batch_number",
            "variant_id",
            "location_id",
            "batch_barcode",
            "include_empty",
            "batch_created_at_min",
            "batch_created_at_max",
        )
    ],
)
def list_batch_stocks(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    batch_id: int | None = None,
    batch_number: str | None = None,
    variant_id: int | None = None,
    location_id: int | None = None,
    batch_barcode: str | None = None,
    include_empty: bool = False,
) -> dict[str, Any]:
    """One entry per batch and location with stock; unbatched stock as 'unbatched'."""
    held = (
        select(
            Stock.batch_id.label("batch_id"),
            Stock.variant_id.label("variant_id"),
            Stock.location_id.label("location_id"),
            Stock.quantity.label("quantity"),
            Stock.id.label("sort"),
        )
        .join(Variant, Variant.id == Stock.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .where(Item.tracking == "batch", Stock.quantity != 0)
    )
    if variant_id:
        held = held.where(Stock.variant_id == variant_id)
    if location_id:
        held = held.where(Stock.location_id == location_id)
    parts: list[Any] = [held]
    if include_empty and not location_id:
        empty = select(Batch.id, Batch.variant_id, null(), literal(0), -Batch.id).where(
            ~exists().where(and_(Stock.batch_id == Batch.id, Stock.quantity != 0))
        )
        if variant_id:
            empty = empty.where(Batch.variant_id == variant_id)
        parts.append(empty)
    u = union_all(*parts).subquery()
    q = select(u, Batch).outerjoin(Batch, Batch.id == u.c.batch_id).order_by(u.c.sort.desc())
    if batch_id:
        q = q.where(u.c.batch_id == batch_id)
    if batch_number:
        q = (
            q.where(Batch.batch_number == batch_number)
            if batch_number != "unbatched"
            else q.where(u.c.batch_id.is_(None))
        )
    if batch_barcode:
        q = q.where(Batch.batch_barcode == batch_barcode)
    for key, op in (("batch_created_at_min", "__ge__"), ("batch_created_at_max", "__le__")):
        if key in request.query_params:
            when = parse_datetime(request.query_params[key], key)
            q = q.where(getattr(Batch.batch_created_date, op)(when))
    rows = paginate(db, q, paging, response, scalars=False)
    return {"data": [_batch_stock(r) for r in rows]}


def _batch_stock(r: Any) -> dict[str, Any]:
    b: Batch | None = r.Batch
    base = out.batch(b) if b else {"batch_number": "unbatched"}
    base.pop("id", None)
    return clean(
        {
            **base,
            "batch_id": r.batch_id,
            "variant_id": r.variant_id,
            "location_id": r.location_id,
            "quantity_in_stock": dec(r.quantity),
            "batch_created_date": base.get("batch_created_date") or iso(None),
        }
    )

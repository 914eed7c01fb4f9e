"""Batches (lots): numbers unique per variant, expiry, barcode; stock per location."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import Batch, Item, Variant
from tracelot.db.sql import chunks
from tracelot.domain import errors
from tracelot.domain.tracking import batch_number_problem
from tracelot.services import webhooks
from tracelot.services.common import apply, get

BATCH_FIELDS = {
    "batch_number",
    "expiration_date",
    "batch_created_date",
    "batch_barcode",
    "supplier_lot",
}


def batch_variant(session: Session, variant_id: int, path: str = "variant_id") -> Variant:
    """The variant, which must belong to a batch-tracked item."""
    variant = get(session, Variant, variant_id, "Variant", path=path)
    if variant.item.tracking != "batch":
        raise errors.refuse(
            errors.NOT_BATCH_TRACKED,
            f"'{variant.item.name}' ({variant.sku}) is not batch-tracked: "
            "turn on batch tracking for the item first.",
            path=path,
        )
    return variant


def check_number(number: str, path: str = "batch_number") -> None:
    """Refuse a batch number no real batch may have (``unbatched``, in any case)."""
    if msg := batch_number_problem(number):
        raise errors.refuse(errors.RESERVED_BATCH_NUMBER, msg, path=path, batch_number=number)


def create_batch(session: Session, data: dict[str, Any]) -> Batch:
    variant = batch_variant(session, int(data["variant_id"]))
    check_number(data["batch_number"])
    _check_number_free(session, variant.id, data["batch_number"], None)
    batch = Batch(variant_id=variant.id, batch_created_date=utcnow())
    apply(batch, data, BATCH_FIELDS)
    session.add(batch)
    session.flush()
    webhooks.emit(session, "batch.created", "batch", batch.id, None)
    return batch


def update_batch(session: Session, batch: Batch, data: dict[str, Any]) -> Batch:
    if data.get("batch_number"):
        check_number(data["batch_number"])
        _check_number_free(session, batch.variant_id, data["batch_number"], batch.id)
    apply(batch, data, BATCH_FIELDS)
    batch.updated_at = utcnow()
    session.flush()
    webhooks.emit(session, "batch.updated", "batch", batch.id, None)
    return batch


def _check_number_free(session: Session, variant_id: int, number: str, own_id: int | None) -> None:
    other = session.scalar(
        select(Batch.id).where(Batch.variant_id == variant_id, Batch.batch_number == number)
    )
    if other is not None and other != own_id:
        raise errors.refuse(
            errors.DUPLICATE,
            f"Batch number '{number}' already exists for "
            "this variant: use that batch or choose another number.",
            path="batch_number",
            batch_id=other,
        )


def find_or_create(
    session: Session, variant_id: int, number: str, path: str = "batch_number", **fields: Any
) -> Batch:
    """The variant's batch with that number, created when new (receipts, production)."""
    check_number(number, path)
    batch = session.scalar(
        select(Batch).where(Batch.variant_id == variant_id, Batch.batch_number == number)
    )
    if batch is None:
        batch = Batch(
            variant_id=variant_id,
            batch_number=number,
            batch_created_date=utcnow(),
            **{k: v for k, v in fields.items() if k in BATCH_FIELDS},
        )
        session.add(batch)
        session.flush()
        webhooks.emit(session, "batch.created", "batch", batch.id, None)
    return batch


def find_or_create_many(
    session: Session, variant_id: int, wanted: list[dict[str, Any]]
) -> dict[str, Batch]:
    """The variant's batches by number, creating the new ones in one INSERT.

    ``wanted`` holds ``batch_number`` and optionally ``expiration_date``,
    ``batch_barcode``, ``supplier_lot``: the first entry of a number wins.
    """
    firsts: dict[str, dict[str, Any]] = {}
    for w in wanted:
        check_number(w["batch_number"])
        firsts.setdefault(w["batch_number"], w)
    found = _by_number(session, variant_id, list(firsts))
    now = utcnow()
    new = [
        {
            "variant_id": variant_id,
            "batch_number": n,
            "batch_created_date": now,
            "created_at": now,
            "updated_at": now,
            **{k: w.get(k) for k in ("expiration_date", "batch_barcode", "supplier_lot")},
        }
        for n, w in firsts.items()
        if n not in found
    ]
    if new:
        session.execute(insert(Batch), new)
        created = _by_number(session, variant_id, [str(r["batch_number"]) for r in new])
        webhooks.emit_many(
            session, "batch.created", "batch", [b.id for b in created.values()], None
        )
        found.update(created)
    return found


def by_number(session: Session, variant_id: int, numbers: list[str]) -> dict[str, Batch]:
    """The variant's existing batches among ``numbers``, by number (one query per 5,000)."""
    return _by_number(session, variant_id, numbers)


def _by_number(session: Session, variant_id: int, numbers: list[str]) -> dict[str, Batch]:
    out: dict[str, Batch] = {}
    for part in chunks(numbers):
        out.update(
            (b.batch_number, b)
            for b in session.scalars(
                select(Batch).where(Batch.variant_id == variant_id, Batch.batch_number.in_(part))
            )
        )
    return out


def of_variant(session: Session, batch_id: int, variant_id: int, path: str) -> Batch:
    """A batch that must belong to ``variant_id`` (422 WRONG_BATCH otherwise)."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise errors.refuse(errors.MISSING, f"Batch {batch_id} does not exist.", path=path)
    if batch.variant_id != variant_id:
        raise errors.refuse(
            errors.WRONG_BATCH,
            f"Batch '{batch.batch_number}' belongs to "
            f"another variant than {variant_id}: pick one of its own batches.",
            path=path,
        )
    return batch


def item_of(session: Session, variant_id: int) -> Item:
    return get(session, Variant, variant_id).item

"""The serial picker and the batch (FEFO) proposal for a sales row.

The picker lists serials of the row's variant in stock at the order's
location, held by no other document and not on hold; it is served by
``ix_serials_picker`` (variant, location, status, serial_number), so a prefix
search over a million serials reads only the page it returns. A GS1 scan is
reduced to its serial (AI 21) and checked against the variant's GTIN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracelot.db.models import Batch, SalesOrderRow, Serial, Stock, Variant
from tracelot.domain import errors
from tracelot.domain import picking as rules
from tracelot.services import sales
from tracelot.standards import gs1


@dataclass
class PickerResult:
    serials: list[Serial]
    held_here: list[Serial]
    scanned: str | None = None


def serial_picker(
    session: Session,
    row: SalesOrderRow,
    q: str | None = None,
    scan: str | None = None,
    limit: int = 50,
) -> PickerResult:
    variant = session.get(Variant, row.variant_id)
    assert variant is not None
    if variant.item.tracking != "serial":
        raise errors.refuse(
            errors.NOT_SERIAL_TRACKED,
            f"'{variant.item.name}' is not serial-tracked: there are no serials to pick.",
            path="id",
        )
    loc = sales.row_location(session, row)
    return pick_serials(session, variant, loc, (sales.ROW, row.id), q, scan, limit)


def pick_serials(
    session: Session,
    variant: Variant,
    loc: int,
    holder: tuple[str, int],
    q: str | None = None,
    scan: str | None = None,
    limit: int = 50,
) -> PickerResult:
    """Free serials of a variant at a location (prefix search or one scan, one index
    range), and those the holder document row (type, id) holds already.

    Shared by the sales picker and the production dialog's serial ingredients.
    """
    exact = scanned_serial(variant, scan) if scan else None
    stmt = select(Serial).where(
        Serial.variant_id == variant.id,
        Serial.location_id == loc,
        Serial.status == "in_stock",
        Serial.holder_type.is_(None),
        Serial.hold_reason.is_(None),
    )
    if exact is not None:
        stmt = stmt.where(Serial.serial_number == exact)
    elif q:
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            Serial.serial_number >= q,
            Serial.serial_number < q + "\U0010ffff",
            Serial.serial_number.like(like, escape="\\"),
        )
    free = list(session.scalars(stmt.order_by(Serial.serial_number).limit(limit)))
    held = list(
        session.scalars(
            select(Serial)
            .where(Serial.holder_type == holder[0], Serial.holder_id == holder[1])
            .order_by(Serial.serial_number)
        )
    )
    if exact is not None and not free and not any(s.serial_number == exact for s in held):
        _explain_unpickable(session, variant, loc, exact)
    return PickerResult(free, held, exact)


def scanned_serial(variant: Variant, raw: str) -> str:
    scan = gs1.interpret(raw)
    if scan.error or not scan.serial_number:
        if not scan.gtin and raw.strip() and not raw.strip().startswith(("(", "]", "http")):
            return raw.strip()  # a plain serial label, not a GS1 string
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"The scan carries no serial number "
            f"(GS1 AI 21){': ' + scan.error if scan.error else ''}.",
            path="scan",
        )
    if scan.gtin and variant.gtin and scan.gtin not in gs1.gtin_forms(variant.gtin):
        raise errors.refuse(
            errors.NOT_IN_STOCK,
            f"The scanned GTIN {scan.gtin} is not the "
            f"GTIN of {variant.sku}: scan a unit of this item.",
            path="scan",
        )
    return scan.serial_number


def _explain_unpickable(session: Session, variant: Variant, loc: int, number: str) -> None:
    s = session.scalar(
        select(Serial).where(Serial.item_id == variant.item_id, Serial.serial_number == number)
    )
    if s is None:
        raise errors.refuse(
            errors.MISSING,
            f"Serial number '{number}' does not exist for {variant.sku}.",
            path="scan",
        )
    if s.hold_reason:
        raise errors.refuse(
            errors.ON_HOLD,
            f"Serial number '{number}' is on hold ({s.hold_reason}): release the hold first.",
            path="scan",
        )
    where = f", held by {s.holder_type} {s.holder_id}" if s.holder_type else ""
    raise errors.refuse(
        errors.NOT_IN_STOCK,
        f"Serial number '{number}' cannot be picked "
        f"here (status {s.status}{where}, location {s.location_id}).",
        path="scan",
    )


def batch_stocks(session: Session, variant_id: int, location_id: int) -> list[rules.BatchStock]:
    rows = session.execute(
        select(
            Batch.id,
            Batch.batch_number,
            Batch.expiration_date,
            Batch.hold_reason,
            func.sum(Stock.quantity).label("q"),
        )
        .join(Stock, Stock.batch_id == Batch.id)
        .where(Stock.variant_id == variant_id, Stock.location_id == location_id, Stock.quantity > 0)
        .group_by(Batch.id, Batch.batch_number, Batch.expiration_date, Batch.hold_reason)
    ).all()
    return [
        rules.BatchStock(r.id, r.batch_number, r.expiration_date, Decimal(r.q), r.hold_reason)
        for r in rows
    ]


def propose_batches(
    session: Session,
    variant_id: int,
    location_id: int,
    quantity: Decimal,
    *,
    allow_expired: bool = False,
    exclude: dict[int, Decimal] | None = None,
    today: date | None = None,
) -> rules.Proposal:
    """FEFO over the batches on hand at the location (minus what ``exclude`` takes)."""
    exclude = exclude or {}
    stocks = [
        rules.BatchStock(
            b.batch_id,
            b.batch_number,
            b.expiration_date,
            b.available - exclude.get(b.batch_id, Decimal(0)),
            b.hold_reason,
        )
        for b in batch_stocks(session, variant_id, location_id)
    ]
    return rules.fefo(stocks, quantity, today or date.today(), allow_expired)


def row_proposal(
    session: Session,
    row: SalesOrderRow,
    allow_expired: bool = False,
    quantity: Decimal | None = None,
) -> rules.Proposal:
    variant = session.get(Variant, row.variant_id)
    assert variant is not None
    if variant.item.tracking != "batch":
        raise errors.refuse(
            errors.NOT_BATCH_TRACKED,
            f"'{variant.item.name}' is not batch-tracked: there are no batches to propose.",
            path="id",
        )
    ship = sales.shipping(session, [row])[row.id]
    need = quantity if quantity is not None else row.quantity - ship.shipped
    loc = sales.row_location(session, row)
    return propose_batches(
        session,
        row.variant_id,
        loc,
        need,
        allow_expired=allow_expired,
        exclude=sales.batches_held_elsewhere(session, row.variant_id, loc, row.id),
    )

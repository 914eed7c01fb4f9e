"""The serial picker and the batch (FEFO) proposal for a sales row.

The picker lists serials of the row's variant in stock at the order's
location, held by no other document and not on hold; it is served by
``ix_serials_picker`` (variant, location, status, serial_number), so a prefix
search over a million serials reads only the page it returns. A GS1 scan is
reduced to its serial (AI 21) and checked against the variant's GTIN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, bindparam, func, or_, select
from sqlalchemy.orm import Session

from tracelot.db.models import Batch, SalesOrderRow, Serial, Stock, Variant
from tracelot.db.sql import table
from tracelot.domain import errors
from tracelot.domain import picking as rules
from tracelot.services import sales
from tracelot.standards import gs1


@dataclass
class PickerResult:
    serials: list[Any]  # rows with the columns of ``Serial`` (id, serial_number, status, ...)
    held_here: list[Any]
    scanned: str | None = None


def serial_picker(
    session: Session,
    row: SalesOrderRow,
    q: str | None = None,
    scan: str | None = None,
    limit: int = 50,
) -> PickerResult:
    facts = sales.variant_facts(session, row.variant_id)
    if facts.tracking != "serial":
        item = session.get(Variant, row.variant_id).item  # type: ignore[union-attr]
        raise errors.refuse(
            errors.NOT_SERIAL_TRACKED,
            f"'{item.name}' is not serial-tracked: there are no serials to pick.",
            path="id",
        )
    loc = sales.row_location(session, row)
    variant: Any = session.get(Variant, row.variant_id) if scan else facts  # a scan: its GTIN
    return pick_serials(session, variant, loc, (sales.ROW, row.id), q, scan, limit)


_serials = table(Serial)
_FREE = select(_serials).where(
    _serials.c.variant_id == bindparam("v"),
    _serials.c.location_id == bindparam("loc"),
    _serials.c.status == "in_stock",
    _serials.c.holder_type.is_(None),
    _serials.c.hold_reason.is_(None),
)
_FREE_PAGE = _FREE.order_by(_serials.c.serial_number).limit(bindparam("n"))
_HELD_BY = (
    select(_serials)
    .where(_serials.c.holder_type == bindparam("ht"), _serials.c.holder_id == bindparam("hid"))
    .order_by(_serials.c.serial_number)
)


def pick_serials(
    session: Session,
    variant: Any,
    loc: int,
    holder: tuple[str, int],
    q: str | None = None,
    scan: str | None = None,
    limit: int = 50,
) -> PickerResult:
    """Free serials of a variant at a location (prefix search or one scan, one index
    range), and those the holder document row (type, id) holds already.

    ``variant``: the ``Variant`` (a scan is checked against its GTIN), or anything
    with its ``id`` when there is no scan. Shared by the sales picker and the
    production dialog's serial ingredients.
    """
    exact = scanned_serial(variant, scan) if scan else None
    conn = session.connection()
    if exact is None and not q:
        free = list(conn.execute(_FREE_PAGE, {"v": variant.id, "loc": loc, "n": limit}))
    else:
        stmt = _FREE
        if exact is not None:
            stmt = stmt.where(_serials.c.serial_number == exact)
        elif q:
            like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(
                _serials.c.serial_number >= q,
                _serials.c.serial_number < q + "\U0010ffff",
                _serials.c.serial_number.like(like, escape="\\"),
            )
        free = list(
            conn.execute(
                stmt.order_by(_serials.c.serial_number).limit(limit),
                {"v": variant.id, "loc": loc},
            )
        )
    held = list(conn.execute(_HELD_BY, {"ht": holder[0], "hid": holder[1]}))
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


FEFO_PAGE = 8  # batches read at a time, in first-expired-first-out order


def _fefo_stmt(collate: str | None) -> Any:
    number = Batch.batch_number.collate(collate) if collate else Batch.batch_number
    return (
        select(
            Batch.id,
            Batch.batch_number,
            Batch.expiration_date,
            Batch.hold_reason,
            Stock.quantity,
        )
        .join(Stock, Stock.batch_id == Batch.id)
        .where(
            Stock.variant_id == bindparam("v"),
            Stock.location_id == bindparam("loc"),
            Stock.quantity > 0,
            Batch.hold_reason.is_(None),
            or_(
                bindparam("any_expiry", type_=Boolean),
                Batch.expiration_date.is_(None),
                Batch.expiration_date >= bindparam("today", type_=Date),
            ),
        )
        # rules.fefo's order: by expiry (none last), then number (code points), then id
        .order_by(Batch.expiration_date.is_(None), Batch.expiration_date, number, Batch.id)
        .limit(bindparam("n"))
        .offset(bindparam("skip"))
    )


_FEFO = {"sqlite": _fefo_stmt(None), "postgresql": _fefo_stmt("C")}


def propose_batches(
    session: Session,
    variant_id: int,
    location_id: int,
    quantity: Decimal,
    *,
    allow_expired: bool = False,
    exclude: dict[int, Decimal] | None = None,
    today: date | None = None,
    held: Callable[[list[int]], dict[int, Decimal]] | None = None,
) -> rules.Proposal:
    """FEFO over the batches on hand at the location, minus what ``exclude`` takes and
    what ``held(batch ids)`` says others hold of those batches.

    Pickable batches are read in FEFO order a page at a time, until the quantity
    is covered or none are left: the proposal is the one over all of them, read
    without loading every batch of the variant.
    """
    today = today or date.today()
    conn = session.connection()
    stmt = _FEFO.get(conn.dialect.name, _FEFO["sqlite"])
    stocks: list[rules.BatchStock] = []
    skip = 0
    while True:
        page = conn.execute(
            stmt,
            {
                "v": variant_id,
                "loc": location_id,
                "any_expiry": allow_expired,
                "today": today,
                "n": FEFO_PAGE,
                "skip": skip,
            },
        ).all()
        taken = dict(exclude or {})
        if held is not None and page:
            for bid, q in held([b.id for b in page]).items():
                taken[bid] = taken.get(bid, Decimal(0)) + q
        stocks += [
            rules.BatchStock(
                b.id,
                b.batch_number,
                b.expiration_date,
                Decimal(b.quantity) - taken.get(b.id, Decimal(0)),
                b.hold_reason,
            )
            for b in page
        ]
        proposal = rules.fefo(stocks, quantity, today, allow_expired)
        if proposal.short <= 0 or len(page) < FEFO_PAGE:
            return proposal
        skip += FEFO_PAGE


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
        held=lambda ids: sales.batches_held_elsewhere(
            session, row.variant_id, loc, row.id, batch_ids=ids
        ),
    )

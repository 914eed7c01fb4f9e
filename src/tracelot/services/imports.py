"""CSV imports of serials and batches: every row checked first, then one transaction.

A bad row refuses the whole file with its line number, so nothing is ever
half-imported. Serials fill gaps first (stock that is on hand but not yet
connected to serials, SPEC §1), and only what is left adds stock.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tracelot.db.models import Location, Serial, Variant
from tracelot.db.sql import chunks
from tracelot.domain import errors
from tracelot.domain import serials as serial_rules
from tracelot.domain.tracking import batch_number_problem
from tracelot.services import adjustments
from tracelot.services.tracking import serial_gaps

Progress = Callable[[int], None]
SERIAL_COLUMNS = ("sku", "serial_number", "location")
BATCH_COLUMNS = ("sku", "batch_number", "expiration_date", "batch_barcode", "location", "quantity")


def read_csv(text: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise errors.refuse(
            errors.INVALID_CSV,
            f"The CSV has no column '{missing[0]}'; its header must name {', '.join(required)}.",
            path="header",
        )
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


class _Lookup:
    """The file's SKUs (with their items) and the location names, read in bulk up front."""

    def __init__(self, session: Session, skus: set[str]) -> None:
        self.session = session
        self.variants: dict[str, Variant] = {}
        for part in chunks(sorted(skus)):
            self.variants.update(
                (v.sku, v)
                for v in session.scalars(
                    select(Variant).options(joinedload(Variant.item)).where(Variant.sku.in_(part))
                )
                if v.sku
            )
        self.locations = dict(
            session.execute(
                select(Location.name, Location.id).where(Location.deleted_at.is_(None))
            ).all()
        )

    def variant(self, sku: str) -> Variant | None:
        return self.variants.get(sku)


def _problem(line: int, column: str, message: str, code: str = errors.INVALID_CSV) -> errors.Detail:
    return errors.Detail(f"row {line}.{column}", code, f"Row {line}: {message}")


def import_serials(
    session: Session, text: str, actor: str, progress: Progress | None = None
) -> int:
    rows = read_csv(text, SERIAL_COLUMNS)
    look, problems = _Lookup(session, {r["sku"] for r in rows}), []
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    first_at: dict[tuple[int, str], int] = {}  # (item, serial) -> the row naming it first
    for line, row in enumerate(rows, start=2):
        v = look.variant(row["sku"])
        loc = look.locations.get(row["location"])
        number = row["serial_number"]
        if v is None:
            problems.append(_problem(line, "sku", f"no variant has SKU '{row['sku']}'."))
        elif v.item.tracking != "serial":
            problems.append(_problem(line, "sku", f"'{v.item.name}' is not serial-tracked."))
            v = None
        if loc is None:
            problems.append(_problem(line, "location", f"no location named '{row['location']}'."))
        if msg := serial_rules.problem(number):
            problems.append(_problem(line, "serial_number", msg))
        elif v is not None and (v.item_id, number) in first_at:
            first = first_at[(v.item_id, number)]
            problems.append(
                _problem(
                    line,
                    "serial_number",
                    f"serial number '{number}' of '{v.item.name}' is already on row {first}: "
                    "each unit needs its own number; remove or correct one of the rows.",
                    errors.DUPLICATE,
                )
            )
        elif v is not None:
            first_at[(v.item_id, number)] = line
        if v is not None and loc is not None:
            groups[(v.id, loc)].append(number)
        if progress:
            progress(1)
    problems += _existing_serials(session, first_at, look)
    if problems:
        raise errors.refuse_many(sorted(problems, key=_row_order))
    _receive_serials(session, groups, look, actor)
    return len(rows)


def _existing_serials(
    session: Session, first_at: dict[tuple[int, str], int], look: _Lookup
) -> list[errors.Detail]:
    """Rows whose serial the item has already: one query per 5,000 numbers."""
    items = {item_id for item_id, _ in first_at}
    names = {v.item_id: v.item.name for v in look.variants.values()}
    taken: list[tuple[int, str]] = []
    for part in chunks(sorted({n for _, n in first_at})):
        taken += [
            (r.item_id, r.serial_number)
            for r in session.execute(
                select(Serial.item_id, Serial.serial_number).where(
                    Serial.serial_number.in_(part), Serial.item_id.in_(items)
                )
            )
        ]
    return [
        _problem(
            first_at[key],
            "serial_number",
            f"serial number '{key[1]}' already exists for '{names[key[0]]}': "
            "each unit needs its own number; remove the row or correct the number.",
            errors.DUPLICATE,
        )
        for key in taken
        if key in first_at
    ]


def _row_order(d: errors.Detail) -> int:
    """Problems in file order (a stable sort keeps each row's own order)."""
    return int(d.path.removeprefix("row ").partition(".")[0])


def _receive_serials(
    session: Session, groups: dict[tuple[int, int], list[str]], look: _Lookup, actor: str
) -> None:
    by_location: dict[int, list[dict[str, Any]]] = defaultdict(list)
    item_of = {v.id: v.item_id for v in look.variants.values()}
    gaps = {
        (g["variant_id"], g["location_id"]): int(g["missing_serial_numbers"])
        for g in serial_gaps(session, sorted({item_of[vid] for vid, _ in groups}))
    }
    for (vid, loc), numbers in groups.items():
        gap = gaps.get((vid, loc), 0)
        connect, add = numbers[:gap], numbers[gap:]
        if connect:
            by_location[loc].append(
                {
                    "variant_id": vid,
                    "quantity": len(connect),
                    "serial_numbers": connect,
                    "connects_existing": True,
                }
            )
        if add:
            by_location[loc].append(
                {"variant_id": vid, "quantity": len(add), "serial_numbers": add}
            )
    for loc, rows in by_location.items():
        adjustments.create(
            session,
            {
                "location_id": loc,
                "stock_adjustment_rows": rows,
                "reason": "CSV import of serial numbers",
            },
            actor,
        )


def import_batches(
    session: Session, text: str, actor: str, progress: Progress | None = None
) -> int:
    rows = read_csv(text, BATCH_COLUMNS)
    look, problems = _Lookup(session, {r["sku"] for r in rows}), []
    by_location: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    bare: list[tuple[Variant, dict[str, Any]]] = []
    for line, row in enumerate(rows, start=2):
        v = look.variant(row["sku"])
        if v is None:
            problems.append(_problem(line, "sku", f"no variant has SKU '{row['sku']}'."))
        elif v.item.tracking != "batch":
            problems.append(_problem(line, "sku", f"'{v.item.name}' is not batch-tracked."))
        alloc = _batch_allocation(row, line, problems)
        loc = look.locations.get(row["location"]) if row["location"] else None
        if row["location"] and loc is None:
            problems.append(_problem(line, "location", f"no location named '{row['location']}'."))
        if v is not None and alloc is not None:
            if loc is not None and alloc["quantity"]:
                by_location[loc][v.id].append(alloc)
            else:
                bare.append((v, alloc))
        if progress:
            progress(1)
    if problems:
        raise errors.refuse_many(problems)
    from tracelot.services import batches

    for v, alloc in bare:
        batches.create_batch(session, {"variant_id": v.id, **alloc})
    for loc, variants in by_location.items():
        adjustments.create(
            session,
            {
                "location_id": loc,
                "reason": "CSV import of batches",
                "stock_adjustment_rows": [
                    {
                        "variant_id": vid,
                        "quantity": sum(a["quantity"] for a in allocs),
                        "batch_transactions": allocs,
                    }
                    for vid, allocs in variants.items()
                ],
            },
            actor,
        )
    return len(rows)


def _batch_allocation(
    row: dict[str, str], line: int, problems: list[errors.Detail]
) -> dict[str, Any] | None:
    ok = True
    if not row["batch_number"] or len(row["batch_number"]) > 64:
        problems.append(
            _problem(line, "batch_number", "a batch number of 1 to 64 characters is required.")
        )
        ok = False
    elif msg := batch_number_problem(row["batch_number"]):
        problems.append(_problem(line, "batch_number", msg, errors.RESERVED_BATCH_NUMBER))
        ok = False
    expiry = None
    if row["expiration_date"]:
        try:
            expiry = date.fromisoformat(row["expiration_date"])
        except ValueError:
            problems.append(
                _problem(
                    line,
                    "expiration_date",
                    f"'{row['expiration_date']}' is not a date; write it as YYYY-MM-DD.",
                )
            )
            ok = False
    try:
        qty = Decimal(row["quantity"] or "0")
        if qty < 0:
            raise InvalidOperation
    except InvalidOperation:
        problems.append(
            _problem(line, "quantity", f"'{row['quantity']}' is not a quantity of 0 or more.")
        )
        ok = False
        qty = Decimal(0)
    if not ok:
        return None
    return {
        "batch_number": row["batch_number"],
        "expiration_date": expiry,
        "batch_barcode": row["batch_barcode"] or None,
        "quantity": qty,
    }

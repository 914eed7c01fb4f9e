"""Recall report: who got what from the named lots/serials, what is left, and a mass balance.

Built from one forward trace (recursive CTE) plus grouped ledger queries; the
mass balance per lot (and per product made from it) reads the ledger, while
"on hand" reads the cached stock, so a report that balances also shows that
the cache agrees with the ledger. Reverts count in the category of the
document they revert (a reverted delivery un-ships).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import Batch, Movement, Serial, SerialTransaction, Stock, Variant
from tracelot.services import tracing
from tracelot.services.tracing_context import ids_in
from tracelot.services.tracing_context import rows as fetch
from tracelot.standards import spreadsheet

INFLOW = {"receipt", "production", "import"}
ON_HAND = ("in_stock", "reserved")
ZERO = Decimal(0)
ZERO_DATE = datetime.min
BY_VARIANT = itemgetter("variant_id")
no_cycle_collection = tracing.no_cycle_collection  # also for the report's JSON


def report(
    session: Session,
    batch_ids: Sequence[int] = (),
    serial_ids: Sequence[int] = (),
) -> dict[str, Any]:  # type: ignore[assignment]
    """The whole forward trace: every reached node and every shipment line (grouped in
    SQL, never per unit), customers summed per line; no genealogy links (the trace
    picture's, not the report's)."""
    with no_cycle_collection():
        return _report(session, batch_ids, serial_ids)


def _report(
    session: Session, batch_ids: Sequence[int], serial_ids: Sequence[int]
) -> dict[str, Any]:
    started = time.perf_counter()
    tracing.ctx.large_reads(session)
    start = tracing.start_nodes(session, list(batch_ids), list(serial_ids))
    found = tracing.reached(session, start, "forward")
    products = tracing.variants(session, found)
    shipments, totals = tracing.lines_page(session, found, "forward", limit=None)
    shipments.sort(key=lambda e: (e.get("customer") or "", e["date"] or ZERO_DATE))
    reached_b = list(found.batches)
    affected = tracing.describe_nodes(session, found, tracing.ordered(found), products)
    units = [n for n in affected if n["kind"] == "serial"]
    out: dict[str, Any] = {
        "generated_at": utcnow(),
        "batch_ids": list(batch_ids),
        "serial_number_ids": list(serial_ids),
        "affected": affected,
        "customers": _customers(shipments),
        "shipments": shipments,
        "on_hand": _known(_on_hand(session, reached_b, units)),
        "mass_balance": _balance_batches(session, reached_b) + _balance_serials(session, units),
        "nothing_shipped": not shipments,
    }
    warnings = tracing.loop_warnings(session, found)
    out["balanced"] = all(b["balanced"] for b in out["mass_balance"])
    out["warnings"] = warnings + [w for b in out["mass_balance"] if (w := _imbalance(b))]
    out["summary"] = _summary(out, totals["quantity"])
    out["mass_balance"] = _known(out["mass_balance"])
    out["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return out


def _known(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """No part of the report holds a None, so its JSON is encoded as it is."""
    return [tracing.ctx.known(r) for r in rows]


def _imbalance(b: dict[str, Any]) -> str | None:
    """Why a lot (or product) does not balance, naming it: units that left by movements
    outside the spec's formula (a transfer still in transit), or a cache off the ledger."""
    if b["balanced"]:
        return None
    what = f"{'Lot' if b['kind'] == 'batch' else 'Product'} {b['name']}"
    off = (
        "received or produced - (consumed + shipped + on hand + adjusted out) = "
        f"{_n(b['difference'])}"
    )
    if b["other_out"]:
        return (
            f"{what}: {_n(b['other_out'])} unit(s) left stock by {', '.join(b['other_reasons'])} "
            f"(e.g. a transfer still in transit), outside the mass balance; {off}."
        )
    return f"{what} does not balance: {off}; the stock on hand differs from the ledger."


def _n(q: Decimal) -> str:
    return f"{q.normalize():f}"


def _summary(r: dict[str, Any], units: Decimal) -> str:
    """``units``: the shipped quantity the lines' totals summed already."""
    if r["nothing_shipped"]:
        return (
            "Nothing made from these lots/serials has been shipped: no customer is "
            "affected. Hold the stock on hand listed below."
        )
    return (
        f"{len(r['customers'])} customer(s) received {units.normalize():f} affected "
        f"unit(s) in {len(r['shipments'])} shipment line(s)."
    )


def _customers(shipments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Affected customers with their units and orders, summed over the shipment lines in
    one pass (a recall's 100,000s); unknown contact details left out (as every part of
    the report)."""
    found: dict[Any, dict[str, Any]] = {}
    orders: dict[Any, dict[str, None]] = {}
    for e in shipments:
        key = e.get("customer_id") or e.get("customer") or e.get("order_no") or e["document"]
        c = found.get(key)
        if c is None:
            c = found[key] = _contact(e)
            c["quantity"] = ZERO
            orders[key] = {}
        c["quantity"] += e["quantity"]
        if (order_no := e.get("order_no")) is not None:
            orders[key][order_no] = None
    for key, c in found.items():
        c["orders"] = list(orders[key])
    return list(found.values())


CONTACT = {  # report key: shipment line key
    "customer_id": "customer_id",
    "customer": "customer",
    "email": "customer_email",
    "phone": "customer_phone",
    "ship_to": "ship_to",
}


def _contact(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e[line] for k, line in CONTACT.items() if e.get(line) is not None}


def _on_hand(
    session: Session, batch_ids: list[int], units: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Stock of the reached lots (one statement), then the reached units in stock."""
    rows = (
        session.execute(
            select(
                Stock.variant_id,
                Stock.location_id,
                Stock.batch_id,
                Batch.batch_number,
                Stock.quantity,
            )
            .join(Batch, Batch.id == Stock.batch_id)
            .where(ids_in(session, Stock.batch_id, batch_ids), Stock.quantity > 0)
            .order_by(Stock.batch_id, Stock.location_id)
        ).all()
        if batch_ids
        else []
    )
    out = [
        {
            "variant_id": r.variant_id,
            "location_id": r.location_id,
            "batch_id": r.batch_id,
            "batch_number": r.batch_number,
            "quantity": Decimal(r.quantity),
            "serial_numbers": [],
        }
        for r in rows
    ]
    return tracing.ctx.enrich_locations(session, out + _units_on_hand(units))


def _units_on_hand(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reached units in stock per product and place, from the units the report already
    describes (their status and place): no second read of 100,000 serials."""
    places: dict[tuple[int, Any], list[str]] = {}
    for n in units:
        if n["status"] in ON_HAND:
            places.setdefault((n["variant_id"], n.get("location_id")), []).append(
                n["serial_number"]
            )
    return [
        {
            "variant_id": variant_id,
            "location_id": location_id,
            "quantity": Decimal(len(numbers)),
            "serial_numbers": sorted(numbers),
        }
        for (variant_id, location_id), numbers in sorted(places.items(), key=_place_order)
    ]


def _place_order(item: tuple[tuple[int, Any], list[str]]) -> tuple[int, int]:
    (variant_id, location_id), _ = item
    return variant_id, location_id or 0


def _reverted(resource_type: Any, resource_id: Any) -> Any:
    """The reason of the document a revert row reverts: an indexed lookup of that
    document's rows (a GROUP BY over every movement of the ledger ran per report)."""
    m = Movement.__table__.alias("reverted")
    origin = (
        select(func.max(m.c.reason))
        .where(
            m.c.resource_type == resource_type,
            m.c.resource_id == resource_id,
            m.c.reason != "revert",
        )
        .scalar_subquery()
    )
    return func.coalesce(origin, "revert")


def _by_category(
    key: Any, reason: Any, resource_type: Any, resource_id: Any, quantity: Any, start: Any
) -> list[Any]:
    """Sums per (key, category, in or out): the reason, or for a revert the reason of the
    document it reverts. Two parts: the lookup sits in the revert rows' part alone, so
    PostgreSQL prices it for the few revert rows; as a CASE over every row it priced the
    statement into JIT compilation (0.5 s of a recall). The parts, for a UNION ALL."""
    pos = (quantity > 0).label("pos")

    def part(cat: Any, rows: Any) -> Any:
        q = start.add_columns(key.label("key"), cat.label("cat"), pos, func.sum(quantity))
        return q.where(rows).group_by(key, cat, pos)

    plain = part(reason, or_(reason.is_(None), reason != "revert"))
    return [plain, part(_reverted(resource_type, resource_id), reason == "revert")]


def _balance_batches(session: Session, batch_ids: list[int]) -> list[dict[str, Any]]:
    """Per reached lot, set-based: one GROUP BY over the lots' movements, one for stock."""
    if not batch_ids:
        return []
    m = Movement
    flows: dict[int, list[tuple[str, bool, Decimal]]] = {b: [] for b in batch_ids}
    start = select().select_from(m).where(ids_in(session, m.batch_id, batch_ids))
    q = _by_category(m.batch_id, m.reason, m.resource_type, m.resource_id, m.quantity, start)
    for batch_id, cat, pos, n in fetch(session, union_all(*q)):
        flows[batch_id].append((cat, bool(pos), Decimal(n)))
    stock = dict(
        fetch(
            session,
            select(Stock.batch_id, func.sum(Stock.quantity))
            .where(ids_in(session, Stock.batch_id, batch_ids))
            .group_by(Stock.batch_id),
        )
    )
    names = {
        r.id: (r.batch_number, r.variant_id)
        for r in fetch(
            session,
            select(Batch.id, Batch.batch_number, Batch.variant_id).where(
                ids_in(session, Batch.id, batch_ids)
            ),
        )
    }
    return [
        _balance("batch", names[b][0], names[b][1], flows[b], Decimal(stock.get(b) or 0))
        | {"batch_id": b}
        for b in batch_ids
    ]


def _balance_serials(session: Session, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per product of the reached units, in units: their ledger rows summed per category
    (one statement, a part per product: no join to serials), on hand by their status."""
    if not units:
        return []
    st = SerialTransaction
    # Grouped by a sort in C, not by a lookup per unit (a recall's 100,000).
    by_variant = {v: list(ns) for v, ns in groupby(sorted(units, key=BY_VARIANT), key=BY_VARIANT)}
    skus = {v: ns[0].get("sku") for v, ns in by_variant.items()}
    on_hand = {v: sum([n["status"] in ON_HAND for n in ns]) for v, ns in by_variant.items()}
    parts = [
        part
        for v, ns in sorted(by_variant.items())
        for part in _by_category(
            literal(v),
            st.reason,
            st.resource_type,
            st.resource_id,
            st.quantity_change,
            select()
            .select_from(st)
            .where(
                ids_in(session, st.serial_id, [n["serial_number_id"] for n in ns]),
                st.quantity_change != 0,
            ),
        )
    ]
    flows: dict[int, list[tuple[str, bool, Decimal]]] = {}
    for variant_id, cat, pos, n in fetch(session, union_all(*parts)):
        flows.setdefault(variant_id, []).append((cat, bool(pos), Decimal(n)))
    return [
        _balance("serials", skus[v], v, flows.get(v, []), Decimal(on_hand[v]))
        for v in sorted(by_variant)
    ]


def _balance(
    kind: str, name: Any, variant_id: int, flows: list[tuple[str, bool, Decimal]], on_hand: Decimal
) -> dict[str, Any]:
    """received or produced = consumed + shipped + on hand + adjusted out (the spec's
    balance); anything else that moved units out (``other_out``, e.g. in transit) is
    reported beside it and makes the lot not balance."""
    b = {
        "received_or_produced": ZERO,
        "consumed": ZERO,
        "shipped": ZERO,
        "adjusted_out": ZERO,
        "other_out": ZERO,
    }
    other: set[str] = set()
    for cat, positive, q in flows:
        if cat in INFLOW or (cat in ("adjustment", "tracking_change") and positive):
            b["received_or_produced"] += q
        elif cat == "consumption":
            b["consumed"] -= q
        elif cat in ("delivery", "return"):
            b["shipped"] -= q
        elif cat == "adjustment":
            b["adjusted_out"] -= q
        else:  # transfers net to zero once received; tracking changes and the like
            b["other_out"] -= q
            other.add(cat)
    accounted = b["consumed"] + b["shipped"] + on_hand + b["adjusted_out"]
    difference = b["received_or_produced"] - accounted
    return {
        "kind": kind,
        "name": name,
        "variant_id": variant_id,
        **b,
        "other_reasons": sorted(other) if b["other_out"] else [],
        "on_hand": on_hand,
        "balanced": abs(difference) < Decimal("1e-6"),
        "difference": difference,
    }


SHIPMENT_COLUMNS = [
    "customer",
    "customer_email",
    "customer_phone",
    "ship_to",
    "order_no",
    "document",
    "date",
    "sku",
    "batch_number",
    "serial_numbers",
    "quantity",
    "location",
]
CUSTOMER_COLUMNS = ["customer", "email", "phone", "ship_to", "orders", "quantity"]
STOCK_COLUMNS = ["location", "sku", "batch_number", "serial_numbers", "quantity"]
AFFECTED_COLUMNS = [
    "level",
    "kind",
    "batch_number",
    "serial_number",
    "sku",
    "item_name",
    "status",
    "expiration_date",
    "hold_reason",
]
BALANCE_COLUMNS = [
    "kind",
    "name",
    "received_or_produced",
    "consumed",
    "shipped",
    "on_hand",
    "adjusted_out",
    "other_out",
    "balanced",
    "difference",
]


def tables(session: Session, r: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The report as sheets of rows (header first): for CSV and XLSX alike."""
    vids = {e["variant_id"] for e in r["shipments"] + r["on_hand"]}
    bids = {e["batch_id"] for e in r["shipments"] if e.get("batch_id")}
    skus = (
        dict(session.execute(select(Variant.id, Variant.sku).where(Variant.id.in_(vids))).all())
        if vids
        else {}
    )
    lots = (
        dict(session.execute(select(Batch.id, Batch.batch_number).where(Batch.id.in_(bids))).all())
        if bids
        else {}
    )

    def cell(e: dict[str, Any], col: str) -> Any:
        if col == "sku":
            return skus.get(e["variant_id"])
        if col == "batch_number":
            return e.get("batch_number") or lots.get(e.get("batch_id") or 0)
        if col == "serial_numbers":
            return " ".join(e.get("serial_numbers") or [])
        return e.get(col)

    summary = [
        ["summary", r["summary"]],
        ["nothing_shipped", r["nothing_shipped"]],
        ["balanced", r["balanced"]],
        ["elapsed_ms", r["elapsed_ms"]],
        ["generated_at", r["generated_at"]],
    ]
    customers = [
        [" ".join(c["orders"]) if k == "orders" else c.get(k) for k in CUSTOMER_COLUMNS]
        for c in r["customers"]
    ]
    return {
        "Summary": summary,
        "Customers": [CUSTOMER_COLUMNS] + customers,
        "Shipments": [SHIPMENT_COLUMNS]
        + [[cell(e, c) for c in SHIPMENT_COLUMNS] for e in r["shipments"]],
        "On hand": [STOCK_COLUMNS] + [[cell(e, c) for c in STOCK_COLUMNS] for e in r["on_hand"]],
        "Mass balance": [BALANCE_COLUMNS]
        + [[b.get(c) for c in BALANCE_COLUMNS] for b in r["mass_balance"]],
        "Affected": [AFFECTED_COLUMNS]
        + [[n.get(c) for c in AFFECTED_COLUMNS] for n in r["affected"]],
    }


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v) if v != v.to_integral_value() else int(v)
    if hasattr(v, "tzinfo") and getattr(v, "tzinfo", None) is not None:
        return v.replace(tzinfo=None)
    return v


def csv_chunks(sheets: dict[str, list[list[Any]]], rows_per_chunk: int = 2000) -> Iterator[str]:
    """The CSV of ``to_csv`` in pieces, for a streamed response: a large recall is written
    while it is sent, never held twice as one string."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    for title, rows in sheets.items():
        w.writerow([f"# {title}"])
        for i in range(0, len(rows), rows_per_chunk):
            w.writerows([[_plain(v) for v in row] for row in rows[i : i + rows_per_chunk]])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        w.writerow([])
    yield buf.getvalue()


def to_csv(sheets: dict[str, list[list[Any]]]) -> str:
    """One CSV: each sheet as a titled block, blank line between (opens in any spreadsheet)."""
    return "".join(csv_chunks(sheets))


def to_xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    """One workbook, a sheet each (the Summary's rows are pairs, not a table)."""
    return spreadsheet.workbook(
        spreadsheet.Sheet(title, ([_plain(v) for v in row] for row in rows), title != "Summary")
        for title, rows in sheets.items()
    )


def find_starts(session: Session, numbers: list[str]) -> tuple[list[int], list[int]]:
    """Batch numbers (any variant) or else serial numbers, as the CLI takes them."""
    from tracelot.domain import errors

    batch_ids: list[int] = []
    serial_ids: list[int] = []
    for n in numbers:
        found = list(session.scalars(select(Batch.id).where(Batch.batch_number == n)))
        if not found:
            found_s = list(session.scalars(select(Serial.id).where(Serial.serial_number == n)))
            if not found_s:
                raise errors.refuse(
                    errors.MISSING,
                    f"No batch or serial number '{n}': check "
                    "the spelling (numbers are case-sensitive).",
                    path=n,
                )
            serial_ids += found_s
        batch_ids += found
    return batch_ids, serial_ids


def render(session: Session, r: dict[str, Any], fmt: str) -> str | bytes:
    """The report as JSON text, CSV text or XLSX bytes."""
    if fmt == "json":
        import json

        return json.dumps(r, default=_json, indent=2)
    sheets = tables(session, r)
    return to_xlsx(sheets) if fmt == "xlsx" else to_csv(sheets)


def _json(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v.normalize(), "f")
    return v.isoformat() if hasattr(v, "isoformat") else str(v)

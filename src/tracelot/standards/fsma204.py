"""FDA FSMA 204 electronic sortable spreadsheet: one row per critical tracking event and lot.

The FDA can ask for the records of a food (a product and a date range, or lot
codes) within 24 hours, as one sortable spreadsheet carrying the key data
elements (21 CFR 1.1455(c)(3)(ii)). Everything comes from the ledger and the
genealogy, like the rest of tracing:

- Receiving: net receipts per purchase order row and lot (a reverted receipt
  nets out); the supplier is the immediate previous source and, as far as we
  know, the traceability lot code source.
- Transformation: per production and output lot, with its traced inputs; one
  row per input lot too (its traceability lot code, quantity used, and the new
  lot codes it went into), so sorting by lot code shows where a lot went. A
  production without traced inputs is reported as Initial Packing (the lot
  code is created here).
- Shipping: net deliveries per fulfilment row and lot, to the customer's
  ship-to address.

A serial number is its own lot. The traceability lot code of a received batch
is the supplier's lot code where one was recorded, else our batch number
(kept in its own column either way).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Batch,
    Genealogy,
    Item,
    Location,
    Movement,
    Serial,
    SerialTransaction,
    Variant,
)
from tracelot.domain import errors
from tracelot.services import tracing, tracing_context
from tracelot.standards import spreadsheet

RECEIVING, TRANSFORMATION, INITIAL_PACKING, SHIPPING = (
    "Receiving",
    "Transformation",
    "Initial Packing",
    "Shipping",
)
STEP_ORDER = {"receipt": 0, "production": 1, "consumption": 2, "delivery": 3}
REFERENCE_TYPES = {
    "purchase_order": "Purchase Order",
    "manufacturing_order": "Manufacturing Order",
    "sales_order": "Sales Order",
}

COLUMNS = [
    "Traceability Lot Code (TLC)",
    "Critical Tracking Event (CTE)",
    "Event Date",
    "Event Time (UTC)",
    "Product Description",
    "Quantity",
    "Unit of Measure",
    "Location Description",
    "Immediate Previous Source Location Description",
    "Immediate Subsequent Recipient Location Description",
    "Traceability Lot Code Source Location Description",
    "Traceability Lot Code Source Reference",
    "Input Traceability Lot Codes",
    "New Traceability Lot Codes",
    "Reference Document Type",
    "Reference Document Number",
    "Product GTIN",
    "SKU",
    "Internal Lot or Serial Number",
]


class Scope:
    """Which lots a request covers: a product, lot codes (traced both ways), a date range."""

    def __init__(
        self,
        session: Session,
        variant_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        lots: list[str] | None = None,
    ) -> None:
        self.variant_id, self.start, self.end = variant_id, start, end
        self.reached: list[Any] = []
        if lots:
            batch_ids, serial_ids = find_lots(session, lots)
            start_nodes = tracing.start_nodes(session, batch_ids, serial_ids)
            self.reached = [tracing.reach(session, start_nodes, d) for d in ("forward", "backward")]

    def lot(self, batch_col: Any = None, serial_col: Any = None) -> Any:
        """SQL: the lot (batch and/or serial column) is one the named lot codes reach."""
        conds = []
        for r in self.reached:
            if batch_col is not None:
                conds.append(batch_col.in_(select(r.c.batch_id)))
            if serial_col is not None:
                conds.append(serial_col.in_(select(r.c.serial_id)))
        return or_(*conds)

    def when(self, at: datetime | None) -> bool:
        if at is None:
            return True
        at = _naive(at)
        return (self.start is None or at >= _naive(self.start)) and (
            self.end is None or at <= _naive(self.end)
        )


def bound(text: str | None, key: str, end: bool = False) -> datetime | None:
    """A date-time from the request, or a plain date meaning all of that day (UTC)."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"'{text}' is not an ISO 8601 date or date-time (e.g. 2026-11-24).",
            path=key,
        ) from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at + timedelta(days=1, microseconds=-1) if end and len(text) == 10 else at


def find_lots(session: Session, codes: list[str]) -> tuple[list[int], list[int]]:
    """Lot codes as people give them: our batch number, the supplier's lot, or a serial."""
    batch_ids: list[int] = []
    serial_ids: list[int] = []
    for code in codes:
        found = list(
            session.scalars(
                select(Batch.id).where(or_(Batch.batch_number == code, Batch.supplier_lot == code))
            )
        )
        found_s = (
            []
            if found
            else list(session.scalars(select(Serial.id).where(Serial.serial_number == code)))
        )
        if not found and not found_s:
            raise errors.refuse(
                errors.MISSING,
                f"No batch, supplier lot or serial number '{code}': check the spelling "
                "(lot codes are case-sensitive).",
                path="lot",
            )
        batch_ids += found
        serial_ids += found_s
    return batch_ids, serial_ids


def rows(
    session: Session,
    variant_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    lots: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Every CTE row in scope, sorted by lot code, date and event."""
    sc = Scope(session, variant_id, start, end, lots)
    events = _flows(session, sc, "receipt", 1) + _flows(session, sc, "delivery", -1)
    outputs = _flows(session, sc, "production", 1)
    events += outputs + _inputs(session, sc)
    events = [e for e in events if sc.when(e["date"])]
    _describe(session, events, outputs)
    events.sort(
        key=lambda e: (
            e["tlc"],
            _naive(e["date"]) if e["date"] else datetime.min,
            STEP_ORDER.get(e["reason"], 9),
            str(e["reference_number"] or ""),
        )
    )
    out = [_row(e) for e in events]
    return out


# --- events from the ledger ---------------------------------------------------------------


def _happened(reason: str, resource_type: Any, resource_id: Any) -> Any:
    """The document row did this (its reverts then net out), as an indexed EXISTS."""
    m = Movement.__table__.alias("cte")
    return exists().where(
        m.c.resource_type == resource_type, m.c.resource_id == resource_id, m.c.reason == reason
    )


def _flows(session: Session, sc: Scope, reason: str, sign: int) -> list[dict[str, Any]]:
    """Net quantity per document row and lot: batches from movements, serials one by one."""
    m = Movement
    q = (
        select(
            m.resource_type,
            m.resource_id,
            m.batch_id,
            m.variant_id,
            m.location_id,
            func.sum(m.quantity).label("q"),
            func.min(m.movement_date).label("at"),
            func.max(m.document).label("document"),
        )
        .where(m.batch_id.is_not(None), _happened(reason, m.resource_type, m.resource_id))
        .group_by(m.batch_id, m.resource_type, m.resource_id, m.variant_id, m.location_id)
        .having(func.sum(m.quantity) * sign > 0)
    )
    if sc.variant_id:
        q = q.where(m.variant_id == sc.variant_id)
    if sc.reached:
        q = q.where(sc.lot(batch_col=m.batch_id))
    out = [
        _event(reason, r, r.batch_id, None, abs(Decimal(r.q)), r.at, r.document)
        for r in session.execute(q)
    ]
    return out + _serial_flows(session, sc, reason, sign)


def _serial_flows(session: Session, sc: Scope, reason: str, sign: int) -> list[dict[str, Any]]:
    st = SerialTransaction
    net = (
        select(
            st.resource_type,
            st.resource_id,
            st.serial_id,
            func.sum(st.quantity_change).label("n"),
            func.min(st.transaction_date).label("at"),
            func.max(st.movement_id).label("m"),
        )
        .join(Serial, Serial.id == st.serial_id)
        .where(st.quantity_change != 0, _happened(reason, st.resource_type, st.resource_id))
        .group_by(st.serial_id, st.resource_type, st.resource_id)
        .having(func.sum(st.quantity_change) * sign > 0)
    )
    if sc.variant_id:
        net = net.where(Serial.variant_id == sc.variant_id)
    if sc.reached:
        net = net.where(sc.lot(serial_col=st.serial_id))
    n = net.subquery()
    q = (
        select(n, Serial.variant_id, Movement.location_id, Movement.document)
        .join(Serial, Serial.id == n.c.serial_id)
        .join(Movement, Movement.id == n.c.m)
    )
    return [
        _event(reason, r, None, r.serial_id, Decimal(1), r.at, r.document)
        for r in session.execute(q)
    ]


def _event(
    reason: str,
    r: Any,
    batch_id: int | None,
    serial_id: int | None,
    qty: Decimal,
    at: datetime,
    document: str | None,
) -> dict[str, Any]:
    return {
        "reason": reason,
        "resource_type": r.resource_type,
        "resource_id": r.resource_id,
        "variant_id": r.variant_id,
        "location_id": r.location_id,
        "batch_id": batch_id,
        "serial_id": serial_id,
        "quantity": qty,
        "date": at,
        "document": document,
    }


def _inputs(session: Session, sc: Scope) -> list[dict[str, Any]]:
    """One row per production and traced input lot: the lot used, and what it became."""
    g = Genealogy
    q = select(g).where(or_(g.input_batch_id.is_not(None), g.input_serial_id.is_not(None)))
    if sc.variant_id:
        q = q.where(g.input_variant_id == sc.variant_id)
    if sc.reached:
        q = q.where(
            sc.lot(g.input_batch_id, g.input_serial_id),
            sc.lot(g.output_batch_id, g.output_serial_id),
        )
    edges = list(session.scalars(q))
    prods = _productions(session, {(e.resource_type, e.resource_id) for e in edges})
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in edges:
        key = (e.resource_type, e.resource_id, e.input_batch_id, e.input_serial_id)
        p = prods.get((e.resource_type, e.resource_id), {})
        ev = grouped.setdefault(
            key,
            {
                "reason": "consumption",
                "resource_type": e.resource_type,
                "resource_id": e.resource_id,
                "variant_id": e.input_variant_id,
                "location_id": p.get("location_id"),
                "batch_id": e.input_batch_id,
                "serial_id": e.input_serial_id,
                "quantity": Decimal(0),
                "date": p.get("date") or e.created_at,
                "document": p.get("document"),
                "new_lots": [],
            },
        )
        ev["quantity"] += Decimal(e.quantity)
        ev["new_lots"].append((e.output_batch_id, e.output_serial_id))
    return list(grouped.values())


def _productions(session: Session, refs: set[tuple[str, int]]) -> dict[tuple[str, int], Any]:
    """Date, location and document of each production (served by ix_movements_resource)."""
    if not refs:
        return {}
    rows_ = session.execute(
        select(
            Movement.resource_type,
            Movement.resource_id,
            func.min(Movement.movement_date).label("date"),
            func.max(Movement.location_id).label("location_id"),
            func.max(Movement.document).label("document"),
        )
        .where(
            Movement.resource_type.in_({t for t, _ in refs}),
            Movement.resource_id.in_({i for _, i in refs}),
            Movement.reason == "production",
        )
        .group_by(Movement.resource_type, Movement.resource_id)
    ).all()
    return {(r.resource_type, r.resource_id): r._asdict() for r in rows_}


# --- descriptions -------------------------------------------------------------------------


def _describe(
    session: Session, events: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> None:
    """Names, lot codes, places and documents for every event (a few queries in all)."""
    lots = Lots(session, events)
    context = tracing_context.describe(
        session, {(e["resource_type"], e["resource_id"]) for e in events}
    )
    inputs_of = _inputs_of(session, outputs)
    places = _places(session, {e["location_id"] for e in events if e["location_id"]})
    sources = _tlc_sources(session, [e for e in events if e["reason"] == "delivery"], places)
    for e in events:
        info = context.get((e["resource_type"], e["resource_id"]), {})
        here = places.get(e["location_id"], "")
        e.update(lots.describe(e["variant_id"], e["batch_id"], e["serial_id"]))
        e["location_description"] = here
        e["reference_type"] = REFERENCE_TYPES.get(info.get("document_type", ""), "")
        e["reference_number"] = info.get("order_no") or info.get("document") or e["document"]
        if e["reason"] == "receipt":
            e["cte"] = RECEIVING
            e["previous_source"] = supplier_description(info)
            e["tlc_source"] = e["previous_source"]
            e["tlc_source_reference"] = info.get("supplier_gln") or ""
        elif e["reason"] == "production":
            ins = inputs_of.get(
                (e["resource_type"], e["resource_id"], e["batch_id"], e["serial_id"])
            )
            e["cte"] = TRANSFORMATION if ins else INITIAL_PACKING
            e["input_lots"] = "; ".join(lots.code(*i) for i in ins or [])
            e["tlc_source"], e["tlc_source_reference"] = here, places.gln(e["location_id"])
        elif e["reason"] == "consumption":
            e["cte"] = TRANSFORMATION
            e["new_lots"] = "; ".join(sorted({lots.code(*n) for n in e["new_lots"]}))
        else:
            e["cte"] = SHIPPING
            e["recipient"] = customer_description(info)
            e["tlc_source"], e["tlc_source_reference"] = sources.get(
                (e["batch_id"], e["serial_id"]), ("", "")
            )


class Lots:
    """Product descriptions and lot codes of the events' variants, batches and serials."""

    def __init__(self, session: Session, events: list[dict[str, Any]]) -> None:
        vids = {e["variant_id"] for e in events}
        bids = {e["batch_id"] for e in events if e["batch_id"]}
        sids = {e["serial_id"] for e in events if e["serial_id"]}
        for e in events:
            for b, s in e.get("new_lots") or []:
                bids.add(b) if b else sids.add(s)
        self.variants = {
            r.id: r
            for r in session.execute(
                select(Variant.id, Variant.sku, Variant.gtin, Item.name, Item.uom)
                .join(Item, Item.id == Variant.item_id)
                .where(Variant.id.in_(vids))
            )
        }
        self.batches = {b.id: b for b in session.scalars(select(Batch).where(Batch.id.in_(bids)))}
        self.serials = dict(
            session.execute(
                select(Serial.id, Serial.serial_number).where(Serial.id.in_(sids))
            ).all()
        )

    def code(self, batch_id: int | None, serial_id: int | None) -> str:
        """The traceability lot code: the supplier's lot where known, else ours."""
        if batch_id:
            b = self.batches.get(batch_id)
            return (b.supplier_lot or b.batch_number) if b else ""
        return str(self.serials.get(serial_id, "")) if serial_id else ""

    def describe(
        self, variant_id: int, batch_id: int | None, serial_id: int | None
    ) -> dict[str, Any]:
        v = self.variants.get(variant_id)
        b = self.batches.get(batch_id) if batch_id else None
        return {
            "tlc": self.code(batch_id, serial_id),
            "internal_lot": b.batch_number if b else self.serials.get(serial_id or 0, ""),
            "product": f"{v.name} ({v.sku})" if v and v.sku else (v.name if v else ""),
            "uom": v.uom if v else "",
            "sku": v.sku if v else "",
            "gtin": v.gtin if v else "",
        }


class Places(dict[int, str]):
    """Our locations' descriptions, and their GLNs."""

    glns: dict[int, str]

    def gln(self, location_id: int | None) -> str:
        return self.glns.get(location_id or 0, "")


def _places(session: Session, ids: set[int]) -> Places:
    out = Places()
    out.glns = {}
    for loc in session.scalars(select(Location).where(Location.id.in_(ids))):
        name = f"{loc.legal_name} - {loc.name}" if loc.legal_name else loc.name
        out[loc.id] = place(name, tracing_context._address(loc), loc.phone, loc.gln)
        out.glns[loc.id] = loc.gln or ""
    return out


def place(name: Any, address: Any, phone: Any, gln: Any) -> str:
    """A location description: business name, address, phone and GLN where known."""
    parts = [name, address, f"phone {phone}" if phone else None, f"GLN {gln}" if gln else None]
    return "; ".join(str(p) for p in parts if p)


def supplier_description(info: dict[str, Any]) -> str:
    return place(
        info.get("supplier"),
        info.get("supplier_address"),
        info.get("supplier_phone"),
        info.get("supplier_gln"),
    )


def customer_description(info: dict[str, Any]) -> str:
    name = info.get("customer")
    if info.get("ship_to_company") and info.get("ship_to_company") != name:
        name = f"{info['ship_to_company']} ({name})"
    return place(name, info.get("ship_to"), info.get("customer_phone"), info.get("ship_to_gln"))


def _inputs_of(
    session: Session, outputs: list[dict[str, Any]]
) -> dict[tuple[Any, ...], list[tuple[int | None, int | None]]]:
    """Traced inputs of each production output lot (one query)."""
    bids = {e["batch_id"] for e in outputs if e["batch_id"]}
    sids = {e["serial_id"] for e in outputs if e["serial_id"]}
    if not bids and not sids:
        return {}
    g = Genealogy
    out: dict[tuple[Any, ...], list[tuple[int | None, int | None]]] = defaultdict(list)
    for e in session.scalars(
        select(g).where(
            or_(g.output_batch_id.in_(bids), g.output_serial_id.in_(sids)),
            or_(g.input_batch_id.is_not(None), g.input_serial_id.is_not(None)),
        )
    ):
        key = (e.resource_type, e.resource_id, e.output_batch_id, e.output_serial_id)
        if (e.input_batch_id, e.input_serial_id) not in out[key]:
            out[key].append((e.input_batch_id, e.input_serial_id))
    return out


def _tlc_sources(
    session: Session, shipments: list[dict[str, Any]], places: Places
) -> dict[tuple[int | None, int | None], tuple[str, str]]:
    """Where each shipped lot's code was assigned: our production location or the supplier."""
    bids = {e["batch_id"] for e in shipments if e["batch_id"]}
    sids = {e["serial_id"] for e in shipments if e["serial_id"]}
    found: list[tuple[tuple[int | None, int | None], str, int, int]] = []
    if bids:
        for r in session.execute(
            select(
                Movement.batch_id,
                Movement.resource_type,
                Movement.resource_id,
                Movement.location_id,
            )
            .where(
                Movement.batch_id.in_(bids),
                Movement.reason.in_(("receipt", "production")),
                Movement.quantity > 0,
            )
            .order_by(Movement.batch_id, Movement.id)
        ):
            found.append(((r.batch_id, None), r.resource_type, r.resource_id, r.location_id))
    if sids:
        st = SerialTransaction
        for r in session.execute(
            select(st.serial_id, st.resource_type, st.resource_id, Movement.location_id)
            .join(Movement, Movement.id == st.movement_id)
            .where(
                st.serial_id.in_(sids),
                st.quantity_change == 1,
                st.is_active.is_(True),
                st.reason.in_(("receipt", "production")),
            )
            .order_by(st.serial_id, st.id)
        ):
            found.append(((None, r.serial_id), r.resource_type, r.resource_id, r.location_id))
    context = tracing_context.describe(session, {(t, i) for _, t, i, _ in found})
    extra = _places(session, {loc for *_, loc in found} - set(places))
    out: dict[tuple[int | None, int | None], tuple[str, str]] = {}
    for key, rtype, rid, loc in found:
        if key in out:
            continue  # the first origin assigned the code
        info = context.get((rtype, rid), {})
        if info.get("document_type") == "purchase_order":
            out[key] = (supplier_description(info), info.get("supplier_gln") or "")
        else:
            out[key] = (places.get(loc) or extra.get(loc, ""), places.gln(loc) or extra.gln(loc))
    return out


def _row(e: dict[str, Any]) -> dict[str, Any]:
    at = _naive(e["date"]) if e["date"] else None
    return dict(
        zip(
            COLUMNS,
            [
                e["tlc"],
                e["cte"],
                at.date().isoformat() if at else "",
                at.strftime("%H:%M:%S") if at else "",
                e["product"],
                e["quantity"].normalize(),
                e["uom"],
                e["location_description"],
                e.get("previous_source", ""),
                e.get("recipient", ""),
                e.get("tlc_source", ""),
                e.get("tlc_source_reference", ""),
                e.get("input_lots", ""),
                e.get("new_lots", "") if isinstance(e.get("new_lots"), str) else "",
                e["reference_type"],
                e["reference_number"] or "",
                e["gtin"] or "",
                e["sku"] or "",
                e["internal_lot"] or "",
            ],
            strict=True,
        )
    )


def _naive(at: datetime) -> datetime:
    """UTC without tzinfo (SQLite answers naive UTC, PostgreSQL aware)."""
    return at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)


# --- files --------------------------------------------------------------------------------


def _cell(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def to_csv(table: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    w.writerows([[_cell(r[c]) for c in COLUMNS] for r in table])
    return buf.getvalue()


def to_xlsx(table: list[dict[str, Any]]) -> bytes:
    """One sheet with a bold header, frozen panes and an autofilter: sortable in any tool."""
    return spreadsheet.workbook(
        [
            spreadsheet.Sheet(
                "FSMA 204",
                itertools.chain([COLUMNS], (_xlsx_row(r) for r in table)),
                freeze="B2",
                widths=[min(60, max(12, len(name) + 2)) for name in COLUMNS],
                formats={2: "yyyy-mm-dd"},
            )
        ]
    )


def _xlsx_row(r: dict[str, Any]) -> list[Any]:
    values = [_cell(r[c]) for c in COLUMNS]
    if values[2]:
        values[2] = date.fromisoformat(values[2])
    return values


def to_json(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns and one object per row; quantities as decimal text ('2', '2.5')."""
    return {"columns": COLUMNS, "data": [{c: _text(r[c]) for c in COLUMNS} for r in table]}


def _text(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v.quantize(Decimal(1))) if v == v.to_integral_value() else f"{v.normalize():f}"
    return v


def render(table: list[dict[str, Any]], fmt: str) -> str | bytes:
    """CSV or JSON text, or XLSX bytes."""
    if fmt == "json":
        import json

        return json.dumps(to_json(table), indent=2)
    return to_xlsx(table) if fmt == "xlsx" else to_csv(table)

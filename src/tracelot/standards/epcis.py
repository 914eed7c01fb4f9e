"""GS1 EPCIS 2.0 export: the ledger as JSON-LD events for trading partners.

- Stock entering from outside (receipts, positive adjustments, imports):
  ObjectEvent ADD, bizStep receiving/commissioning, lot and expiry in ``ilmd``.
- Productions: TransformationEvent, inputs (from the genealogy) -> outputs,
  the MO as a ``prodorder`` business transaction.
- Deliveries: ObjectEvent OBSERVE, bizStep shipping, the order as ``po``.

Identifiers are GS1 Digital Link URIs when the variant has a GTIN, else the
company's own https URIs (``TRACELOT_BASE_URI``).

Reverts are netted per document row, as the shipments of ``services.tracing``
are: a revert (reason ``revert`` on the same row, variant, location and lot)
cancels the movement it undoes, whenever it happened, so a delivery, receipt or
production that was fully reverted is left out and a partly reverted one is
exported with what still stands (its quantity, or the serials not taken back).
A revert cancels the latest earlier movement of exactly its size, else the
latest ones first; reverted serials are matched by serial number. Deleting a
whole stock adjustment reverts each of its rows on that row, so it leaves too.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import or_, select
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
from tracelot.services import tracing, tracing_context
from tracelot.settings import get_settings

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
DL = "https://id.gs1.org"
UOM = {"kg": "KGM", "g": "GRM", "l": "LTR", "ml": "MLT", "m": "MTR", "t": "TNE"}
ORIGINS = {"receipt": "receiving", "adjustment": "commissioning", "import": "commissioning"}
EVENT_REASONS = (*ORIGINS, "production", "delivery")


class Ids:
    """Identifier URIs for variants, lots, serials, locations and parties."""

    def __init__(self, session: Session, variant_ids: set[int]) -> None:
        self.base = get_settings().base_uri.rstrip("/")
        rows = (
            session.execute(
                select(Variant.id, Variant.gtin, Item.uom)
                .join(Item, Item.id == Variant.item_id)
                .where(Variant.id.in_(variant_ids))
            ).all()
            if variant_ids
            else []
        )
        from tracelot.standards.gs1 import gtin14

        self.gtin = {r.id: gtin14(r.gtin) for r in rows}
        self.uom = {r.id: UOM.get((r.uom or "").lower()) for r in rows}

    def serial(self, variant_id: int, number: str) -> str:
        g = self.gtin.get(variant_id)
        return (
            f"{DL}/01/{g}/21/{_q(number)}"
            if g
            else f"{self.base}/variants/{variant_id}/serials/{_q(number)}"
        )

    def lot(self, variant_id: int, lot: str | None) -> str:
        g = self.gtin.get(variant_id)
        root = f"{DL}/01/{g}" if g else f"{self.base}/variants/{variant_id}"
        return root + (f"/10/{_q(lot)}" if lot and g else f"/batches/{_q(lot)}" if lot else "")

    def location(self, loc: Location | None, loc_id: int) -> str:
        if loc is not None and loc.gln:
            return f"{DL}/414/{loc.gln}"
        return f"{self.base}/locations/{loc_id}"

    def quantity(self, variant_id: int, lot: str | None, q: Decimal) -> dict[str, Any]:
        out: dict[str, Any] = {"epcClass": self.lot(variant_id, lot), "quantity": float(q)}
        if self.uom.get(variant_id):
            out["uom"] = self.uom[variant_id]
        return out


def _q(text: str) -> str:
    return quote(text, safe="")


def document(
    session: Session,
    start: datetime | None = None,
    end: datetime | None = None,
    batch_ids: list[int] | None = None,
) -> dict[str, Any]:
    """An EPCISDocument of every event in the range (optionally only one lot's trace)."""
    moves = [m for m in _movements(session, start, end, batch_ids) if _makes_event(m)]
    serials = _serials_by_movement(session, [m.id for m in moves])
    standing = _standing(session, moves, serials)
    moves = [m for m in moves if standing[m.id] > 0]
    batches = {
        b.id: b
        for b in session.scalars(
            select(Batch).where(Batch.id.in_({m.batch_id for m in moves if m.batch_id}))
        )
    }
    gen = _genealogy(
        session, {(m.resource_type, m.resource_id) for m in moves if m.reason == "production"}
    )
    variant_ids = {m.variant_id for m in moves} | {g.input_variant_id for g in gen}
    ids = Ids(session, variant_ids)
    locs = {
        x.id: x
        for x in session.scalars(
            select(Location).where(Location.id.in_({m.location_id for m in moves}))
        )
    }
    context = tracing_context.describe(session, {(m.resource_type, m.resource_id) for m in moves})
    events = [
        ev
        for m in moves
        if m.reason in ORIGINS
        for ev in [_origin(m, ids, batches, serials, standing, locs)]
    ]
    events += _transformations(session, moves, gen, ids, batches, serials, standing, locs, context)
    events += [
        _shipping(
            m,
            ids,
            batches,
            serials,
            standing,
            locs,
            context.get((m.resource_type, m.resource_id), {}),
        )
        for m in moves
        if m.reason == "delivery"
    ]
    events.sort(key=lambda e: e["eventTime"])
    return {
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(datetime.now(UTC)),
        "epcisBody": {"eventList": events},
    }


def _movements(
    session: Session, start: datetime | None, end: datetime | None, batch_ids: list[int] | None
) -> list[Movement]:
    q = select(Movement).where(Movement.reason.in_(EVENT_REASONS))
    if start:
        q = q.where(Movement.movement_date >= start)
    if end:
        q = q.where(Movement.movement_date <= end)
    if batch_ids:
        nodes = [tracing.Node(batch_id=b) for b in batch_ids]
        fw = tracing.reach(session, nodes, "forward")
        bw = tracing.reach(session, nodes, "backward")
        touched = select(SerialTransaction.movement_id).where(
            or_(
                SerialTransaction.serial_id.in_(select(fw.c.serial_id)),
                SerialTransaction.serial_id.in_(select(bw.c.serial_id)),
            )
        )
        q = q.where(
            or_(
                Movement.batch_id.in_(select(fw.c.batch_id)),
                Movement.batch_id.in_(select(bw.c.batch_id)),
                Movement.id.in_(touched),
            )
        )
    return list(session.scalars(q.order_by(Movement.movement_date, Movement.id)))


def _makes_event(m: Movement) -> bool:
    """Stock entering (origins, production output) or leaving to a customer (delivery)."""
    return m.quantity < 0 if m.reason == "delivery" else m.quantity > 0


def _standing(
    session: Session, moves: list[Movement], serials: dict[int, list[str]]
) -> dict[int, Decimal]:
    """How much of each event movement its document row's reverts left standing.

    Removes reverted serial numbers from ``serials`` as it goes. Every movement
    of a row that has reverts is read, whatever the export's window, so a revert
    cancels the movement it undid and not a later or earlier one in the window.
    """
    standing = {m.id: abs(m.quantity) for m in moves}
    rows = {(m.resource_type, m.resource_id) for m in moves}
    if not rows:
        return standing
    of_rows = select(Movement).where(
        tracing_context.ids_in(session, Movement.resource_id, {rid for _, rid in rows}),
        Movement.resource_type.in_({rtype for rtype, _ in rows}),
    )
    reverts = [
        r
        for r in session.scalars(of_rows.where(Movement.reason == "revert").order_by(Movement.id))
        if (r.resource_type, r.resource_id) in rows
    ]
    if not reverts:
        return standing
    reverted = {(r.resource_type, r.resource_id) for r in reverts}
    originals = [
        m
        for m in session.scalars(
            of_rows.where(Movement.reason.in_(EVENT_REASONS)).order_by(Movement.id)
        )
        if (m.resource_type, m.resource_id) in reverted and _makes_event(m)
    ]
    unseen = [m.id for m in [*originals, *reverts] if m.id not in serials]
    for mid, numbers in _serials_by_movement(session, unseen).items():
        serials[mid] = numbers
    by_key: dict[tuple[Any, ...], list[Movement]] = defaultdict(list)
    for m in originals:
        by_key[_row_key(m)].append(m)
        standing.setdefault(m.id, abs(m.quantity))
    for r in reverts:
        earlier = [m for m in reversed(by_key.get(_row_key(r), [])) if m.id < r.id]
        if earlier and r.quantity * earlier[0].quantity < 0:
            _cancel(r, earlier, standing, serials)
    return standing


def _row_key(m: Movement) -> tuple[Any, ...]:
    return (m.resource_type, m.resource_id, m.variant_id, m.location_id, m.batch_id)


def _cancel(
    revert: Movement,
    earlier: list[Movement],
    standing: dict[int, Decimal],
    serials: dict[int, list[str]],
) -> None:
    """Take one revert off the movements it can undo (``earlier``: latest first)."""
    if serials.get(revert.id):
        for number in serials[revert.id]:
            m = next((m for m in earlier if number in serials.get(m.id, [])), None)
            if m is not None:
                serials[m.id] = [n for n in serials[m.id] if n != number]
                standing[m.id] -= 1
        return
    undo = abs(revert.quantity)
    exact = next((m for m in earlier if standing[m.id] == undo), None)
    for m in [exact] if exact is not None else earlier:
        take = min(undo, standing[m.id])
        standing[m.id] -= take
        undo -= take
        if not undo:
            break


def _serials_by_movement(session: Session, movement_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if movement_ids:
        for mid, number in session.execute(
            select(SerialTransaction.movement_id, Serial.serial_number)
            .join(Serial, Serial.id == SerialTransaction.serial_id)
            .where(SerialTransaction.movement_id.in_(movement_ids))
            .order_by(Serial.serial_number)
        ):
            if mid is not None:
                out[mid].append(number)
    return out


def _genealogy(session: Session, refs: set[tuple[str, int]]) -> list[Genealogy]:
    if not refs:
        return []
    return list(
        session.scalars(
            select(Genealogy)
            .where(
                Genealogy.resource_id.in_({r for _, r in refs}),
                Genealogy.resource_type.in_({t for t, _ in refs}),
            )
            .order_by(Genealogy.id)
        )
    )


def _base(kind: str, m: Movement, ids: Ids, locs: dict[int, Location], key: str) -> dict[str, Any]:
    where = {"id": ids.location(locs.get(m.location_id), m.location_id)}
    return {
        "type": kind,
        "eventTime": _time(m.movement_date),
        "eventTimeZoneOffset": "+00:00",
        "eventID": "ni:///sha-256;" + hashlib.sha256(key.encode()).hexdigest() + "?ver=CBV2.0",
        "readPoint": where,
        "bizLocation": where,
    }


def _what(
    m: Movement,
    ids: Ids,
    batches: dict[int, Batch],
    serials: dict[int, list[str]],
    standing: dict[int, Decimal],
) -> dict[str, Any]:
    if serials.get(m.id):
        return {"epcList": [ids.serial(m.variant_id, n) for n in serials[m.id]]}
    lot = batches[m.batch_id].batch_number if m.batch_id else None
    return {"quantityList": [ids.quantity(m.variant_id, lot, standing[m.id])]}


def _ilmd(batch: Batch | None) -> dict[str, Any]:
    if batch is None:
        return {}
    ilmd: dict[str, Any] = {"cbvmda:lotNumber": batch.batch_number}
    if batch.expiration_date:
        ilmd["cbvmda:itemExpirationDate"] = _day(batch.expiration_date)
    return {"ilmd": ilmd}


def _origin(
    m: Movement,
    ids: Ids,
    batches: dict[int, Batch],
    serials: dict[int, list[str]],
    standing: dict[int, Decimal],
    locs: dict[int, Location],
) -> dict[str, Any]:
    return {
        **_base("ObjectEvent", m, ids, locs, f"movement:{m.id}"),
        **_what(m, ids, batches, serials, standing),
        "action": "ADD",
        "bizStep": ORIGINS[m.reason],
        "disposition": "active",
        **_ilmd(batches.get(m.batch_id or 0)),
    }


def _shipping(
    m: Movement,
    ids: Ids,
    batches: dict[int, Batch],
    serials: dict[int, list[str]],
    standing: dict[int, Decimal],
    locs: dict[int, Location],
    info: dict[str, Any],
) -> dict[str, Any]:
    ev = {
        **_base("ObjectEvent", m, ids, locs, f"movement:{m.id}"),
        **_what(m, ids, batches, serials, standing),
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
    }
    ev["sourceList"] = [{"type": "owning_party", "source": f"{ids.base}/company"}]
    if info.get("customer_id"):
        ev["destinationList"] = [
            {"type": "owning_party", "destination": f"{ids.base}/customers/{info['customer_id']}"}
        ]
    order = info.get("order_no") or m.caused_by_order_no or m.document
    if order:
        ev["bizTransactionList"] = [
            {"type": "po", "bizTransaction": f"{ids.base}/sales_orders/{_q(order)}"}
        ]
    return ev


def _transformations(
    session: Session,
    moves: list[Movement],
    gen: list[Genealogy],
    ids: Ids,
    batches: dict[int, Batch],
    serials: dict[int, list[str]],
    standing: dict[int, Decimal],
    locs: dict[int, Location],
    context: dict[Any, dict[str, Any]],
) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], list[Movement]] = defaultdict(list)
    for m in moves:
        if m.reason == "production":
            groups[(m.resource_type, m.resource_id)].append(m)
    in_batches = {
        b.id: b
        for b in session.scalars(
            select(Batch).where(Batch.id.in_({g.input_batch_id for g in gen if g.input_batch_id}))
        )
    }
    in_serials = (
        dict(
            session.execute(
                select(Serial.id, Serial.serial_number).where(
                    Serial.id.in_({g.input_serial_id for g in gen if g.input_serial_id})
                )
            ).all()
        )
        if gen
        else {}
    )
    events = []
    for (rtype, rid), outs in groups.items():
        first = outs[0]
        ev = {
            **_base("TransformationEvent", first, ids, locs, f"{rtype}:{rid}"),
            "bizStep": "commissioning",
            "disposition": "active",
        }
        rows = [g for g in gen if g.resource_type == rtype and g.resource_id == rid]
        ev.update(_inputs(rows, ids, in_batches, in_serials))
        out_epcs = [ids.serial(m.variant_id, n) for m in outs for n in serials.get(m.id, [])]
        out_qty = [
            ids.quantity(
                m.variant_id,
                batches[m.batch_id].batch_number if m.batch_id else None,
                standing[m.id],
            )
            for m in outs
            if not serials.get(m.id)
        ]
        if out_epcs:
            ev["outputEPCList"] = out_epcs
        if out_qty:
            ev["outputQuantityList"] = out_qty
        ev.update(_ilmd(batches.get(first.batch_id or 0)))
        mo = context.get((rtype, rid), {}).get("manufacturing_order_id") or next(
            (g.manufacturing_order_id for g in rows if g.manufacturing_order_id), None
        )
        if mo:
            ev["bizTransactionList"] = [
                {"type": "prodorder", "bizTransaction": f"{ids.base}/manufacturing_orders/{mo}"}
            ]
        events.append(ev)
    return events


def _inputs(
    rows: list[Genealogy], ids: Ids, batches: dict[int, Batch], serials: dict[int, str]
) -> dict[str, Any]:
    epcs = sorted(
        {
            ids.serial(g.input_variant_id, serials[g.input_serial_id])
            for g in rows
            if g.input_serial_id
        }
    )
    qty: dict[tuple[int, str | None], Decimal] = defaultdict(Decimal)
    for g in rows:
        if not g.input_serial_id:
            lot = batches[g.input_batch_id].batch_number if g.input_batch_id else None
            qty[(g.input_variant_id, lot)] += g.quantity
    out: dict[str, Any] = {}
    if epcs:
        out["inputEPCList"] = epcs
    if qty:
        out["inputQuantityList"] = [ids.quantity(v, lot, q) for (v, lot), q in qty.items()]
    return out


def _time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _day(value: date) -> str:
    return value.isoformat()

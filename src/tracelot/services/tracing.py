"""Tracing: a serial's timeline, and batch/serial traces both ways through genealogy.

Everything is a query over the ledger (movements, serial_transactions) and the
genealogy. Traces walk the genealogy with one recursive CTE per direction in
the database, so a trace costs a handful of queries however many levels and
units it crosses (a peer that recursed in Python took minutes at scale).
Document details (order numbers, customers, suppliers) come from
``tracing_context``, which each document module can extend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import cast, exists, func, literal, or_, select, union_all
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
from tracelot.services import tracing_context as ctx

MAX_LEVELS = 64  # guards against a genealogy cycle written by mistake
ORIGIN_REASONS = ("receipt", "adjustment", "import")


@dataclass(frozen=True)
class Node:
    """A batch or a serial (exactly one id set)."""

    batch_id: int | None = None
    serial_id: int | None = None


@dataclass
class Trace:
    direction: str
    start: list[Node]
    nodes: list[dict[str, Any]] = field(default_factory=list)  # reached batches/serials
    links: list[dict[str, Any]] = field(default_factory=list)  # genealogy edges among them
    events: list[dict[str, Any]] = field(default_factory=list)  # shipments or origins


# --- serial timeline -------------------------------------------------------------------


def find_serial(
    session: Session, serial_id: int | None = None, serial_number: str | None = None
) -> Serial:
    if serial_id is not None:
        serial = session.get(Serial, serial_id)
        if serial is None:
            raise errors.NotFound("Serial number", serial_id)
        return serial
    found = list(
        session.scalars(select(Serial).where(Serial.serial_number == serial_number).limit(2))
    )
    if not found:
        raise errors.NotFound("Serial number", serial_number)
    if len(found) > 1:
        raise errors.refuse(
            errors.DUPLICATE,
            f"Serial number '{serial_number}' exists for "
            "several items: use GET /serial_numbers/{id}/history.",
            path="serial_number",
        )
    return found[0]


def serial_history(session: Session, serial: Serial) -> dict[str, Any]:
    """Every step of one unit, oldest first, with user, document and context."""
    q = (
        select(
            SerialTransaction,
            Movement.location_id,
            Movement.batch_id,
            Movement.document,
            Movement.caused_by_order_no,
            Location.name.label("location"),
        )
        .outerjoin(Movement, Movement.id == SerialTransaction.movement_id)
        .outerjoin(Location, Location.id == Movement.location_id)
        .where(SerialTransaction.serial_id == serial.id)
        .order_by(SerialTransaction.transaction_date, SerialTransaction.id)
    )
    rows = session.execute(q).all()
    refs = {(r[0].resource_type, r[0].resource_id) for r in rows}
    context = ctx.describe(session, refs)
    steps = []
    for t, loc_id, _batch, document, order_no, loc_name in rows:
        info = context.get((t.resource_type, t.resource_id), {})
        steps.append(
            {
                "at": t.transaction_date,
                "event": event_name(t.reason, t.quantity_change),
                "quantity_change": t.quantity_change,
                "reason": t.reason,
                "active": t.is_active,
                "resource_type": t.resource_type,
                "resource_id": t.resource_id,
                "document": document or info.get("document"),
                "order_no": order_no or info.get("order_no"),
                "location_id": loc_id,
                "location": loc_name,
                "user": t.user,
                **{k: v for k, v in info.items() if k not in ("document", "order_no")},
            }
        )
    variant = session.get(Variant, serial.variant_id)
    return {
        "serial": serial,
        "variant": variant,
        "steps": steps,
        "made_from": inputs_of(session, serial_ids=[serial.id]),
    }


def event_name(reason: str | None, change: int) -> str:
    if change == 0:
        return "reserved" if reason == "hold" else (reason or "linked")
    names = {
        "receipt": ("received", "receipt reverted"),
        "production": ("produced", "production reverted"),
        "consumption": ("consumption reverted", "consumed"),
        "delivery": ("delivery reverted", "shipped"),
        "adjustment": ("adjusted in", "adjusted out"),
        "transfer": ("transferred in", "transferred out"),
        "return": ("returned", "return reverted"),
        "tracking_change": ("connected", "disconnected"),
    }
    pair = names.get(reason or "")
    if pair is None:
        return f"{reason or 'moved'} {'in' if change > 0 else 'out'}"
    return pair[0] if change > 0 else pair[1]


def inputs_of(
    session: Session,
    batch_ids: list[int] = (),  # type: ignore[assignment]
    serial_ids: list[int] = (),
) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """The direct inputs recorded for outputs (one level; the trace goes further)."""
    conds = []
    if batch_ids:
        conds.append(Genealogy.output_batch_id.in_(list(batch_ids)))
    if serial_ids:
        conds.append(Genealogy.output_serial_id.in_(list(serial_ids)))
    if not conds:
        return []
    q = (
        select(Genealogy, Variant.sku, Batch.batch_number, Serial.serial_number)
        .join(Variant, Variant.id == Genealogy.input_variant_id)
        .outerjoin(Batch, Batch.id == Genealogy.input_batch_id)
        .outerjoin(Serial, Serial.id == Genealogy.input_serial_id)
        .where(or_(*conds))
        .order_by(Genealogy.id)
    )
    return [
        {
            "variant_id": g.input_variant_id,
            "sku": sku,
            "batch_id": g.input_batch_id,
            "batch_number": bn,
            "serial_number_id": g.input_serial_id,
            "serial_number": sn,
            "quantity": g.quantity,
            "resource_type": g.resource_type,
            "resource_id": g.resource_id,
            "manufacturing_order_id": g.manufacturing_order_id,
        }
        for g, sku, bn, sn in session.execute(q)
    ]


# --- traces ----------------------------------------------------------------------------


def reach(session: Session, start: list[Node], direction: str) -> Any:
    """Recursive CTE of every node reachable from ``start`` (inclusive), with its level."""
    g = Genealogy.__table__.alias("g")
    seeds = [
        select(
            cast(literal(n.batch_id), g.c.input_batch_id.type).label("batch_id"),
            cast(literal(n.serial_id), g.c.input_serial_id.type).label("serial_id"),
            literal(0).label("level"),
        )
        for n in start
    ]
    seed = seeds[0]
    if len(seeds) > 1:  # a recursive CTE's anchor must be one SELECT, not a compound one
        starts = union_all(*seeds).subquery("starts")
        seed = select(starts.c.batch_id, starts.c.serial_id, starts.c.level)
    tree = seed.cte(f"tree_{direction}", recursive=True)
    if direction == "forward":
        here_b, here_s, next_b, next_s = (
            g.c.input_batch_id,
            g.c.input_serial_id,
            g.c.output_batch_id,
            g.c.output_serial_id,
        )
    else:
        here_b, here_s, next_b, next_s = (
            g.c.output_batch_id,
            g.c.output_serial_id,
            g.c.input_batch_id,
            g.c.input_serial_id,
        )
    def step(on: Any) -> Any:
        return (
            select(next_b, next_s, (tree.c.level + 1).label("level"))
            .select_from(tree.join(g, on))
            .where(tree.c.level < MAX_LEVELS, or_(next_b.is_not(None), next_s.is_not(None)))
        )

    if session.get_bind().dialect.name == "sqlite":
        # An OR join scans all of genealogy per node on SQLite; two recursive terms
        # (SQLite >= 3.34) each use their own index.
        tree = tree.union(step(here_b == tree.c.batch_id), step(here_s == tree.c.serial_id))
    else:
        tree = tree.union(step(or_(here_b == tree.c.batch_id, here_s == tree.c.serial_id)))
    return (
        select(tree.c.batch_id, tree.c.serial_id, func.min(tree.c.level).label("level")).group_by(
            tree.c.batch_id, tree.c.serial_id
        )
    ).subquery(f"reached_{direction}")


def trace(session: Session, start: list[Node], direction: str) -> Trace:
    """Forward: every product made from ``start`` and every shipment of any of them.
    Backward: everything that went into it, down to receipts (supplier lots)."""
    if direction not in ("forward", "backward"):
        raise errors.refuse(
            errors.VALIDATION_FAILED, "direction must be 'forward' or 'backward'.", path="direction"
        )
    reached = reach(session, start, direction)
    result = Trace(direction, start)
    result.nodes = _describe_nodes(session, reached)
    result.links = _links(session, reached)
    result.events = (
        shipments(session, reached) if direction == "forward" else origins(session, reached)
    )
    return result


def _describe_nodes(session: Session, reached: Any) -> list[dict[str, Any]]:
    batches = session.execute(
        select(reached.c.level, Batch, Variant.sku, Item.name, Item.uom)
        .join(Batch, Batch.id == reached.c.batch_id)
        .join(Variant, Variant.id == Batch.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .order_by(reached.c.level, Batch.id)
    ).all()
    serials = session.execute(
        select(reached.c.level, Serial, Variant.sku, Item.name, Item.uom)
        .join(Serial, Serial.id == reached.c.serial_id)
        .join(Variant, Variant.id == Serial.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .order_by(reached.c.level, Serial.id)
    ).all()
    out = [
        {
            "level": lv,
            "kind": "batch",
            "batch_id": b.id,
            "batch_number": b.batch_number,
            "variant_id": b.variant_id,
            "sku": sku,
            "item_name": name,
            "uom": uom,
            "expiration_date": b.expiration_date,
            "supplier_lot": b.supplier_lot,
            "hold_reason": b.hold_reason,
        }
        for lv, b, sku, name, uom in batches
    ]
    out += [
        {
            "level": lv,
            "kind": "serial",
            "serial_number_id": s.id,
            "serial_number": s.serial_number,
            "variant_id": s.variant_id,
            "sku": sku,
            "item_name": name,
            "uom": uom,
            "status": s.status,
            "location_id": s.location_id,
            "hold_reason": s.hold_reason,
        }
        for lv, s, sku, name, uom in serials
    ]
    return sorted(out, key=lambda n: n["level"])


def _links(session: Session, reached: Any) -> list[dict[str, Any]]:
    """Genealogy edges whose output is a reached node (enough to draw the tree)."""
    r_out = select(reached.c.batch_id, reached.c.serial_id).subquery()
    q = (
        select(Genealogy)
        .where(
            or_(
                Genealogy.output_batch_id.in_(select(r_out.c.batch_id)),
                Genealogy.output_serial_id.in_(select(r_out.c.serial_id)),
                Genealogy.input_batch_id.in_(select(r_out.c.batch_id)),
                Genealogy.input_serial_id.in_(select(r_out.c.serial_id)),
            )
        )
        .order_by(Genealogy.id)
    )
    return [
        {
            "output_batch_id": g.output_batch_id,
            "output_serial_id": g.output_serial_id,
            "input_batch_id": g.input_batch_id,
            "input_serial_id": g.input_serial_id,
            "input_variant_id": g.input_variant_id,
            "output_variant_id": g.output_variant_id,
            "quantity": g.quantity,
            "resource_type": g.resource_type,
            "resource_id": g.resource_id,
            "manufacturing_order_id": g.manufacturing_order_id,
        }
        for g in session.scalars(q)
    ]


def _delivered(resource_type: Any, resource_id: Any) -> Any:
    """The document row delivered something (its reverts then net out). An indexed EXISTS
    per row: a DISTINCT over every delivery movement read the whole ledger per trace."""
    m = Movement.__table__.alias("delivered")
    return exists().where(
        m.c.resource_type == resource_type, m.c.resource_id == resource_id,
        m.c.reason == "delivery")


def shipments(session: Session, reached: Any) -> list[dict[str, Any]]:
    """Net shipped quantity per shipping document row and lot (reverts cancel out)."""
    b = (
        select(
            Movement.resource_type,
            Movement.resource_id,
            Movement.batch_id,
            Movement.variant_id,
            Movement.location_id,
            func.sum(Movement.quantity).label("q"),
            func.max(Movement.movement_date).label("at"),
            func.max(Movement.document).label("document"),
            func.max(Movement.caused_by_order_no).label("order_no"),
        )
        .where(
            Movement.batch_id.in_(select(reached.c.batch_id)),
            _delivered(Movement.resource_type, Movement.resource_id),
        )
        .group_by(  # batch first: SQLite then reads ix_movements_batch, not the whole ledger
            Movement.batch_id,
            Movement.resource_type,
            Movement.resource_id,
            Movement.variant_id,
            Movement.location_id,
        )
        .having(func.sum(Movement.quantity) < 0)
    )
    out = [
        {
            "resource_type": r.resource_type,
            "resource_id": r.resource_id,
            "batch_id": r.batch_id,
            "variant_id": r.variant_id,
            "location_id": r.location_id,
            "quantity": -Decimal(r.q),
            "date": r.at,
            "document": r.document,
            "order_no": r.order_no,
            "serial_numbers": [],
        }
        for r in session.execute(b)
    ]
    out += _serial_shipments(session, reached)
    return ctx.enrich(session, out)


def _serial_shipments(session: Session, reached: Any) -> list[dict[str, Any]]:
    st = SerialTransaction
    net = (
        select(
            st.resource_type,
            st.resource_id,
            st.serial_id,
            func.sum(st.quantity_change).label("n"),
            func.max(st.transaction_date).label("at"),
            func.max(st.movement_id).label("m"),
        )
        .where(
            st.serial_id.in_(select(reached.c.serial_id)),
            _delivered(st.resource_type, st.resource_id),
            st.quantity_change != 0,
        )
        .group_by(st.resource_type, st.resource_id, st.serial_id)
        .having(func.sum(st.quantity_change) < 0)
    ).subquery()
    rows = session.execute(
        select(
            net,
            Serial.serial_number,
            Serial.variant_id,
            Movement.location_id,
            Movement.document,
            Movement.caused_by_order_no,
        )
        .join(Serial, Serial.id == net.c.serial_id)
        .join(Movement, Movement.id == net.c.m)
        .order_by(net.c.resource_type, net.c.resource_id, Serial.serial_number)
    ).all()
    grouped: dict[tuple[str, int, int], dict[str, Any]] = {}
    for r in rows:
        key = (r.resource_type, r.resource_id, r.variant_id)
        entry = grouped.setdefault(
            key,
            {
                "resource_type": r.resource_type,
                "resource_id": r.resource_id,
                "batch_id": None,
                "variant_id": r.variant_id,
                "location_id": r.location_id,
                "quantity": Decimal(0),
                "date": r.at,
                "document": r.document,
                "order_no": r.caused_by_order_no,
                "serial_numbers": [],
            },
        )
        entry["quantity"] += 1
        entry["serial_numbers"].append(r.serial_number)
    return list(grouped.values())


def origins(session: Session, reached: Any) -> list[dict[str, Any]]:
    """Where reached lots/serials entered stock from outside: receipts and adjustments."""
    b = (
        select(
            Movement.resource_type,
            Movement.resource_id,
            Movement.batch_id,
            Movement.variant_id,
            Movement.location_id,
            Movement.reason,
            func.sum(Movement.quantity).label("q"),
            func.min(Movement.movement_date).label("at"),
            func.max(Movement.document).label("document"),
        )
        .where(
            Movement.batch_id.in_(select(reached.c.batch_id)),
            Movement.reason.in_(ORIGIN_REASONS),
            Movement.quantity > 0,
        )
        .group_by(  # batch first: served by ix_movements_batch
            Movement.batch_id,
            Movement.resource_type,
            Movement.resource_id,
            Movement.variant_id,
            Movement.location_id,
            Movement.reason,
        )
    )
    out = [
        {
            "resource_type": r.resource_type,
            "resource_id": r.resource_id,
            "batch_id": r.batch_id,
            "variant_id": r.variant_id,
            "location_id": r.location_id,
            "reason": r.reason,
            "quantity": Decimal(r.q),
            "date": r.at,
            "document": r.document,
            "serial_numbers": [],
        }
        for r in session.execute(b)
    ]
    st = SerialTransaction
    rows = session.execute(
        select(
            st.resource_type,
            st.resource_id,
            st.reason,
            st.transaction_date,
            Serial.serial_number,
            Serial.variant_id,
            Movement.location_id,
            Movement.document,
        )
        .join(Serial, Serial.id == st.serial_id)
        .outerjoin(Movement, Movement.id == st.movement_id)
        .where(
            st.serial_id.in_(select(reached.c.serial_id)),
            st.quantity_change == 1,
            st.reason.in_(ORIGIN_REASONS),
            st.is_active.is_(True),
        )
        .order_by(st.id)
    ).all()
    grouped: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        entry = grouped.setdefault(
            (r.resource_type, r.resource_id),
            {
                "resource_type": r.resource_type,
                "resource_id": r.resource_id,
                "batch_id": None,
                "variant_id": r.variant_id,
                "location_id": r.location_id,
                "reason": r.reason,
                "quantity": Decimal(0),
                "date": r.transaction_date,
                "document": r.document,
                "serial_numbers": [],
            },
        )
        entry["quantity"] += 1
        entry["serial_numbers"].append(r.serial_number)
    return ctx.enrich(session, out + list(grouped.values()))


def start_nodes(
    session: Session,
    batch_ids: list[int] = (),  # type: ignore[assignment]
    serial_ids: list[int] = (),
) -> list[Node]:  # type: ignore[assignment]
    nodes = [Node(batch_id=int(b)) for b in batch_ids] + [
        Node(serial_id=int(s)) for s in serial_ids
    ]
    if not nodes:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Name at least one batch_id or serial_number_id to trace.",
            path="batch_id",
        )
    known_b = set(session.scalars(select(Batch.id).where(Batch.id.in_(list(batch_ids)))))
    known_s = set(session.scalars(select(Serial.id).where(Serial.id.in_(list(serial_ids)))))
    for n in nodes:
        if (n.batch_id and n.batch_id not in known_b) or (
            n.serial_id and n.serial_id not in known_s
        ):
            what = "Batch" if n.batch_id else "Serial number"
            raise errors.NotFound(what, n.batch_id or n.serial_id)
    return nodes

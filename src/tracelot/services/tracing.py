"""Tracing: a serial's timeline, and batch/serial traces both ways through genealogy.

Everything is a query over the ledger (movements, serial_transactions) and the
genealogy. Traces walk the genealogy with one recursive CTE per direction in
the database, so a trace costs a handful of queries however many levels and
units it crosses (a peer that recursed in Python took minutes at scale).
Document details (order numbers, customers, suppliers) come from
``tracing_context``, which each document module can extend.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """Every step of one unit, oldest first, with user, document and context: one query
    over ``ix_serial_transactions_serial`` joined to movements by key, then one query per
    kind of document for all steps together."""
    st = SerialTransaction
    q = (
        select(
            st.transaction_date,
            st.quantity_change,
            st.reason,
            st.is_active,
            st.resource_type,
            st.resource_id,
            st.user,
            Movement.location_id,
            Movement.document,
            Movement.caused_by_order_no,
            Location.name,
        )
        .outerjoin(Movement, Movement.id == st.movement_id)
        .outerjoin(Location, Location.id == Movement.location_id)
        .where(st.serial_id == serial.id)
        .order_by(st.transaction_date, st.id)
    )
    found = ctx.rows(session, q)
    context = ctx.describe(session, {(r.resource_type, r.resource_id) for r in found})
    steps = []
    for at, change, reason, active, rtype, rid, user, loc_id, document, order_no, loc in found:
        info = context.get((rtype, rid), {})
        steps.append(
            {
                "at": at,
                "event": event_name(reason, change),
                "quantity_change": change,
                "reason": reason,
                "active": active,
                "resource_type": rtype,
                "resource_id": rid,
                "document": document or info.get("document"),
                "order_no": order_no or info.get("order_no"),
                "location_id": loc_id,
                "location": loc,
                "user": user,
                **{k: v for k, v in info.items() if k not in ("document", "order_no")},
            }
        )
    return {
        "serial": serial,
        "variant": session.get(Variant, serial.variant_id),
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
    batch_ids: Sequence[int] = (),
    serial_ids: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """The direct inputs recorded for outputs (one level; the trace goes further)."""
    conds = []
    if batch_ids:
        conds.append(Genealogy.output_batch_id.in_(list(batch_ids)))
    if serial_ids:
        conds.append(Genealogy.output_serial_id.in_(list(serial_ids)))
    if not conds:
        return []
    g = Genealogy
    q = (
        select(
            g.input_variant_id,
            Variant.sku,
            g.input_batch_id,
            Batch.batch_number,
            g.input_serial_id,
            Serial.serial_number,
            g.quantity,
            g.resource_type,
            g.resource_id,
            g.manufacturing_order_id,
        )
        .join(Variant, Variant.id == g.input_variant_id)
        .outerjoin(Batch, Batch.id == g.input_batch_id)
        .outerjoin(Serial, Serial.id == g.input_serial_id)
        .where(or_(*conds))
        .order_by(g.id)
    )
    keys = (
        "variant_id",
        "sku",
        "batch_id",
        "batch_number",
        "serial_number_id",
        "serial_number",
        "quantity",
        "resource_type",
        "resource_id",
        "manufacturing_order_id",
    )
    return [dict(zip(keys, r, strict=True)) for r in ctx.rows(session, q)]


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


@dataclass
class Reached:
    """The nodes one trace reached, id -> level. The recursive CTE runs once; every later
    query of the trace reads these ids (re-running the CTE in each of them cost 5x)."""

    batches: dict[int, int] = field(default_factory=dict)
    serials: dict[int, int] = field(default_factory=dict)


def reached(session: Session, start: list[Node], direction: str) -> Reached:
    tree = reach(session, start, direction)
    out = Reached()
    for batch_id, serial_id, level in ctx.rows(
        session, select(tree.c.batch_id, tree.c.serial_id, tree.c.level)
    ):
        if batch_id is not None:
            out.batches[batch_id] = min(level, out.batches.get(batch_id, level))
        if serial_id is not None:
            out.serials[serial_id] = min(level, out.serials.get(serial_id, level))
    return out


def trace(session: Session, start: list[Node], direction: str) -> Trace:
    """Forward: every product made from ``start`` and every shipment of any of them.
    Backward: everything that went into it, down to receipts (supplier lots).
    A fixed number of statements however far it reaches (about ten)."""
    if direction not in ("forward", "backward"):
        raise errors.refuse(
            errors.VALIDATION_FAILED, "direction must be 'forward' or 'backward'.", path="direction"
        )
    found = reached(session, start, direction)
    result = Trace(direction, start)
    result.nodes = _describe_nodes(session, found)
    serials = {n["serial_number_id"]: n for n in result.nodes if n["kind"] == "serial"}
    result.links = _links(session, found)
    result.events = (
        shipments(session, found, serials)
        if direction == "forward"
        else origins(session, found, serials)
    )
    return result


def _describe_nodes(session: Session, found: Reached) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if found.batches:
        out += [
            {
                "level": found.batches[r.id],
                "kind": "batch",
                "batch_id": r.id,
                "batch_number": r.batch_number,
                "variant_id": r.variant_id,
                "sku": r.sku,
                "item_name": r.name,
                "uom": r.uom,
                "expiration_date": r.expiration_date,
                "supplier_lot": r.supplier_lot,
                "hold_reason": r.hold_reason,
            }
            for r in ctx.rows(
                session,
                select(
                    Batch.id,
                    Batch.batch_number,
                    Batch.variant_id,
                    Batch.expiration_date,
                    Batch.supplier_lot,
                    Batch.hold_reason,
                    Variant.sku,
                    Item.name,
                    Item.uom,
                )
                .join(Variant, Variant.id == Batch.variant_id)
                .join(Item, Item.id == Variant.item_id)
                .where(ctx.ids_in(session, Batch.id, found.batches)),
            )
        ]
    if found.serials:
        out += [
            {
                "level": found.serials[r.id],
                "kind": "serial",
                "serial_number_id": r.id,
                "serial_number": r.serial_number,
                "variant_id": r.variant_id,
                "sku": r.sku,
                "item_name": r.name,
                "uom": r.uom,
                "status": r.status,
                "location_id": r.location_id,
                "hold_reason": r.hold_reason,
            }
            for r in ctx.rows(
                session,
                select(
                    Serial.id,
                    Serial.serial_number,
                    Serial.variant_id,
                    Serial.status,
                    Serial.location_id,
                    Serial.hold_reason,
                    Variant.sku,
                    Item.name,
                    Item.uom,
                )
                .join(Variant, Variant.id == Serial.variant_id)
                .join(Item, Item.id == Variant.item_id)
                .where(ctx.ids_in(session, Serial.id, found.serials)),
            )
        ]
    # by level; batches before serials within a level; then by id
    return sorted(
        out,
        key=lambda n: (n["level"], n["kind"], n.get("batch_id") or n.get("serial_number_id")),
    )


LINK_COLUMNS = (
    "output_batch_id",
    "output_serial_id",
    "input_batch_id",
    "input_serial_id",
    "input_variant_id",
    "output_variant_id",
    "quantity",
    "resource_type",
    "resource_id",
    "manufacturing_order_id",
)


def _links(session: Session, found: Reached) -> list[dict[str, Any]]:
    """Genealogy edges with a reached node at either end (enough to draw the tree): one
    indexed query per end and kind of node."""
    g = Genealogy.__table__
    cols = [g.c.id, *(g.c[name] for name in LINK_COLUMNS)]
    edges: dict[int, dict[str, Any]] = {}
    for column, ids in (
        (g.c.output_batch_id, found.batches),
        (g.c.input_batch_id, found.batches),
        (g.c.output_serial_id, found.serials),
        (g.c.input_serial_id, found.serials),
    ):
        if ids:
            for r in ctx.rows(session, select(*cols).where(ctx.ids_in(session, column, ids))):
                edges.setdefault(r[0], dict(zip(LINK_COLUMNS, r[1:], strict=True)))
    return [edges[i] for i in sorted(edges)]


def _delivered(resource_type: Any, resource_id: Any) -> Any:
    """The document row delivered something (its reverts then net out). An indexed EXISTS
    per row: a DISTINCT over every delivery movement read the whole ledger per trace."""
    m = Movement.__table__.alias("delivered")
    return exists().where(
        m.c.resource_type == resource_type,
        m.c.resource_id == resource_id,
        m.c.reason == "delivery",
    )


def shipments(
    session: Session, found: Reached, serials: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Net shipped quantity per shipping document row and lot (reverts cancel out)."""
    out = []
    if found.batches:
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
                ctx.ids_in(session, Movement.batch_id, found.batches),
                _delivered(Movement.resource_type, Movement.resource_id),
            )
            .group_by(  # batch first: SQLite then reads ix_movements_batch, not the ledger
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
            for r in ctx.rows(session, b)
        ]
    if found.serials:
        out += _serial_shipments(session, found, serials)
    return ctx.enrich(session, out)


def _serial_shipments(
    session: Session, found: Reached, serials: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
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
            ctx.ids_in(session, st.serial_id, found.serials),
            st.quantity_change != 0,
            # a delivery's own rows need no lookup; other rows (reverts) ask the document
            or_(st.reason == "delivery", _delivered(st.resource_type, st.resource_id)),
        )
        .group_by(st.resource_type, st.resource_id, st.serial_id)
        .having(func.sum(st.quantity_change) < 0)
    ).subquery()
    rows = ctx.rows(
        session,
        select(net, Movement.location_id, Movement.document, Movement.caused_by_order_no).join(
            Movement, Movement.id == net.c.m
        ),
    )
    grouped: dict[tuple[str, int, int], dict[str, Any]] = {}

    def order(r: Any) -> tuple[str, int, str]:
        return (r[0], r[1], serials[r[2]]["serial_number"])

    for rtype, rid, serial_id, _n, at, _m, location_id, document, order_no in sorted(
        rows, key=order
    ):
        unit = serials[serial_id]
        key = (rtype, rid, unit["variant_id"])
        entry = grouped.get(key)
        if entry is None:  # a new shipping row (rows arrive in document order)
            entry = grouped[key] = {
                "resource_type": rtype,
                "resource_id": rid,
                "batch_id": None,
                "variant_id": unit["variant_id"],
                "location_id": location_id,
                "quantity": Decimal(0),
                "date": at,
                "document": document,
                "order_no": order_no,
                "serial_numbers": [],
            }
        entry["quantity"] += 1
        entry["serial_numbers"].append(unit["serial_number"])
    return list(grouped.values())


def origins(
    session: Session, found: Reached, serials: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Where reached lots/serials entered stock from outside: receipts and adjustments."""
    out = _batch_origins(session, found) if found.batches else []
    st = SerialTransaction
    rows = (
        ctx.rows(
            session,
            select(
                st.id,
                st.serial_id,
                st.resource_type,
                st.resource_id,
                st.reason,
                st.transaction_date,
                Movement.location_id,
                Movement.document,
            )
            .outerjoin(Movement, Movement.id == st.movement_id)
            .where(
                ctx.ids_in(session, st.serial_id, found.serials),
                st.quantity_change == 1,
                st.reason.in_(ORIGIN_REASONS),
                st.is_active.is_(True),
            ),
        )
        if found.serials
        else []
    )
    grouped: dict[tuple[str, int], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r.id):
        unit = serials[r.serial_id]
        entry = grouped.setdefault(
            (r.resource_type, r.resource_id),
            {
                "resource_type": r.resource_type,
                "resource_id": r.resource_id,
                "batch_id": None,
                "variant_id": unit["variant_id"],
                "location_id": r.location_id,
                "reason": r.reason,
                "quantity": Decimal(0),
                "date": r.transaction_date,
                "document": r.document,
                "serial_numbers": [],
            },
        )
        entry["quantity"] += 1
        entry["serial_numbers"].append(unit["serial_number"])
    return ctx.enrich(session, out + list(grouped.values()))


def _batch_origins(session: Session, found: Reached) -> list[dict[str, Any]]:
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
            ctx.ids_in(session, Movement.batch_id, found.batches),
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
    return [
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
        for r in ctx.rows(session, b)
    ]


def start_nodes(
    session: Session,
    batch_ids: Sequence[int] = (),
    serial_ids: Sequence[int] = (),
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

"""Tracing: a serial's timeline, and batch/serial traces both ways through genealogy.

Everything is a query over the ledger (movements, serial_transactions) and the
genealogy. Traces walk the genealogy with one recursive CTE per direction in
the database, so a trace costs a handful of queries however many levels and
units it crosses (a peer that recursed in Python took minutes at scale).

A broad trace reaches tens of thousands of units: the reached set and its
aggregates (counts per level and product, shipment lines, quantity, customers)
are computed in SQL, and the details (nodes, shipment/origin lines) come one
page at a time (``limit``/``page``), so the answer's cost is bounded; callers
that need everything (the recall) pass ``limit=None``.
Document details (order numbers, customers, suppliers) come from
``tracing_context``, which each document module can extend.
"""

from __future__ import annotations

import functools
import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

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
from tracelot.services.manufacturing import PRODUCTION

MAX_LEVELS = 64  # levels one recursive query walks; a deeper genealogy takes another round
PAGE_SIZE = 50
ORIGIN_REASONS = ("receipt", "adjustment", "import")
SHIPPING_REASONS = ("delivery", "revert")  # a revert nets out on the row it reverts
SEP = "\x1f"  # between serial numbers aggregated in SQL (never part of a serial number)
REVERTED = {  # what a revert step undid, by the document row it belongs to
    "SalesOrderFulfillmentRow": "delivery",
    "PurchaseOrderRow": "receipt",
    "StockAdjustmentRow": "adjustment",
    "StockTransferRow": "transfer",
    "Production": "production",
    "ProductionIngredient": "consumption",
}


@dataclass(frozen=True)
class Node:
    """A batch or a serial (exactly one id set)."""

    batch_id: int | None = None
    serial_id: int | None = None


@dataclass
class Reached:
    """The nodes one trace reached, id -> level. The recursive CTE runs once; every later
    query of the trace reads these ids (re-running the CTE in each of them cost 5x)."""

    batches: dict[int, int] = field(default_factory=dict)
    serials: dict[int, int] = field(default_factory=dict)
    capped: bool = False  # a walk hit MAX_LEVELS (a deep genealogy, or a cycle)
    per_variant: Counter[tuple[int, str]] = field(default_factory=Counter)  # (variant, kind)


@dataclass
class Trace:
    direction: str
    start: list[Node]
    nodes: list[dict[str, Any]] = field(default_factory=list)  # this page of reached nodes
    links: list[dict[str, Any]] = field(default_factory=list)  # genealogy edges into them
    events: list[dict[str, Any]] = field(default_factory=list)  # this page of shipments/origins
    totals: dict[str, Any] = field(default_factory=dict)  # over the whole trace
    levels: list[dict[str, Any]] = field(default_factory=list)  # nodes per level
    variants: list[dict[str, Any]] = field(default_factory=list)  # nodes per product
    warnings: list[str] = field(default_factory=list)
    limit: int | None = PAGE_SIZE
    page: int = 1
    reached: Reached = field(default_factory=Reached)


# --- serial timeline -------------------------------------------------------------------


def find_serial(
    session: Session, serial_id: int | None = None, serial_number: str | None = None
) -> Serial:
    if serial_id is not None:
        serial = session.get(Serial, serial_id)
        if serial is None:
            raise errors.NotFound("Serial number", serial_id)
        return serial
    found = list(session.scalars(_by_number(), {"serial_number": serial_number}))
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


@functools.cache
def _by_number() -> Any:
    """Up to two units with the number (two: the number is not unique across items)."""
    return select(Serial).where(Serial.serial_number == bindparam("serial_number")).limit(2)


TIMELINE_KEYS = (
    "at",
    "quantity_change",
    "reason",
    "active",
    "resource_type",
    "resource_id",
    "user",
    "location_id",
    "document",
    "order_no",
    "location",
    "sku",
    "item_name",
)


@functools.cache
def _timeline() -> Any:
    """The unit's steps (``ix_serial_transactions_serial``), each with its movement's place
    and document by primary key, plus the product's name. Built once with bound
    parameters: building the statement cost more than running it."""
    st = SerialTransaction
    product = (
        select(Variant.sku, Item.name)
        .join(Item, Item.id == Variant.item_id)
        .where(Variant.id == bindparam("variant_id"))
    )
    return (
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
            product.with_only_columns(Variant.sku).scalar_subquery(),
            product.with_only_columns(Item.name).scalar_subquery(),
        )
        .select_from(st)
        .outerjoin(Movement, Movement.id == st.movement_id)
        .outerjoin(Location, Location.id == Movement.location_id)
        .where(st.serial_id == bindparam("serial_id"))
        .order_by(st.transaction_date, st.id)
    )


def serial_history(session: Session, serial: Serial) -> dict[str, Any]:
    """Every step of one unit, oldest first, with user, document and context: the timeline,
    its documents (one statement for every kind) and the unit's inputs; with the lookup,
    four statements (one per kind of document and its customers made it ten)."""
    found = ctx.rows(session, _timeline(), serial_id=serial.id, variant_id=serial.variant_id)
    context = ctx.describe(session, {(r.resource_type, r.resource_id) for r in found})
    steps = [
        _step(dict(zip(TIMELINE_KEYS, r, strict=True)), context.get((r[4], r[5]), {}))
        for r in found
    ]
    return {
        "serial": serial,
        "variant": _variant(session, serial, found),
        "steps": steps,
        # Inputs are recorded by a production of the unit: a unit never produced (most
        # are bought) has none, and is not asked (a round trip of every history).
        "made_from": made_from(session, serial.id)
        if any(r[4] == PRODUCTION for r in found)
        else [],
    }


def _step(r: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": r["at"],
        "event": event_name(r["reason"], r["quantity_change"], r["resource_type"]),
        "quantity_change": r["quantity_change"],
        "reason": r["reason"],
        "active": r["active"],
        "resource_type": r["resource_type"],
        "resource_id": r["resource_id"],
        "document": r["document"] or info.get("document"),
        "order_no": r["order_no"] or info.get("order_no"),
        "location_id": r["location_id"],
        "location": r["location"],
        "user": r["user"],
        **{k: v for k, v in info.items() if k not in ("document", "order_no")},
    }


def _variant(session: Session, serial: Serial, found: list[Any]) -> Any:
    """The unit's product (sku, item name) as read with the timeline; a unit without
    steps asks once."""
    if found:
        sku, name = found[0][11], found[0][12]
    else:
        sku, name = ctx.rows(
            session,
            select(Variant.sku, Item.name)
            .join(Item, Item.id == Variant.item_id)
            .where(Variant.id == serial.variant_id),
        )[0]
    return SimpleNamespace(id=serial.variant_id, sku=sku, item=SimpleNamespace(name=name))


def event_name(reason: str | None, change: int, resource_type: str | None = None) -> str:
    if reason == "revert":
        return f"{REVERTED.get(resource_type or '', 'document')} reverted"
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


MADE_FROM_KEYS = (
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


@functools.cache
def _made_from() -> Any:
    """The direct inputs recorded for one unit (``ix_genealogy_output_serial``), built
    once with a bound parameter: building it cost more than running it."""
    g = Genealogy
    return (
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
        .where(g.output_serial_id == bindparam("serial_id"))
        .order_by(g.id)
    )


def made_from(session: Session, serial_id: int) -> list[dict[str, Any]]:
    """What went into one unit (one level; the trace goes further)."""
    found = ctx.rows(session, _made_from(), serial_id=serial_id)
    return [dict(zip(MADE_FROM_KEYS, r, strict=True)) for r in found]


# --- the reached set -------------------------------------------------------------------


def _ends(direction: str) -> tuple[Any, Any, Any, Any, Any]:
    """(here batch, here serial, next batch, next serial, next variant) of genealogy."""
    g = Genealogy.__table__.alias("g")
    ins = (g.c.input_batch_id, g.c.input_serial_id)
    outs = (g.c.output_batch_id, g.c.output_serial_id)
    if direction == "forward":
        return (*ins, *outs, g.c.output_variant_id)
    return (*outs, *ins, g.c.input_variant_id)


IdsWhere = Callable[[str, Any], Any]  # ("batches" or "serials", id column) -> WHERE


def _seeds(kinds: tuple[str, ...], where: IdsWhere, level: Any) -> Any:
    """The anchor rows: the start nodes that exist, at ``level``, for any number of them
    (ids as one parameter; a compound SELECT per node is capped at 500 terms on SQLite)."""
    parts = []
    if "batches" in kinds:
        parts.append(
            select(
                Batch.id.label("batch_id"),
                cast(null(), BigInteger).label("serial_id"),
                Batch.variant_id.label("variant_id"),
                level.label("level"),
            ).where(where("batches", Batch.id))
        )
    if "serials" in kinds:
        parts.append(
            select(
                cast(null(), Integer).label("batch_id"),
                Serial.id.label("serial_id"),
                Serial.variant_id.label("variant_id"),
                level.label("level"),
            ).where(where("serials", Serial.id))
        )
    if len(parts) == 1:
        return parts[0]
    starts = union_all(*parts).subquery("starts")  # an anchor is one SELECT, not a compound
    return select(starts.c.batch_id, starts.c.serial_id, starts.c.variant_id, starts.c.level)


def _start_ids(start: list[Node]) -> dict[str, list[int]]:
    """The start's lot ids and serial ids (lots, even none, when there is no serial)."""
    batches = [n.batch_id for n in start if n.batch_id]
    serials = [n.serial_id for n in start if n.serial_id]
    ids = {"batches": batches} if batches or not serials else {}
    return ids | ({"serials": serials} if serials else {})


def reach(session: Session, start: list[Node], direction: str, first_level: int = 0) -> Any:
    """Recursive CTE of every node reachable from ``start`` (inclusive) within MAX_LEVELS
    levels, with its product, its nearest level and ``deepest`` (MAX_LEVELS deeper than
    the start means the walk was cut short: ``reached`` goes on from there). The product
    comes from genealogy's own columns: counting per product reads no batch/serial rows."""
    ids = _start_ids(start)
    return _reach(
        session.get_bind().dialect.name,
        direction,
        tuple(ids),
        lambda kind, column: ctx.ids_in(session, column, ids[kind]),
        literal(first_level),
    )


@functools.cache
def _reach_cached(dialect: str, direction: str, kinds: tuple[str, ...]) -> Any:
    """``reach`` built once per shape, ids bound as ``ids_batches``/``ids_serials`` and the
    level as ``first_level``: building the statement cost more than running it for a
    small trace (a single serial's: 6.8 ms, 0.3 of them in SQLite)."""
    tree = _reach(
        dialect,
        direction,
        kinds,
        lambda kind, column: ctx.ids_param(dialect, column, f"ids_{kind}"),
        bindparam("first_level", type_=Integer),
    )
    return _reach_select(tree)


def _reach_select(tree: Any) -> Any:
    """(batch, serial, variant, level, deepest) of a ``reach`` subquery."""
    return select(tree.c.batch_id, tree.c.serial_id, *list(tree.c)[2:])


def _reach(
    dialect: str, direction: str, kinds: tuple[str, ...], where: IdsWhere, first: Any
) -> Any:
    here_b, here_s, next_b, next_s, next_v = _ends(direction)
    g = here_b.table
    tree = _seeds(kinds, where, first).cte(f"tree_{direction}", recursive=True)

    def step(on: Any) -> Any:
        return (
            select(next_b, next_s, next_v, (tree.c.level + 1).label("level"))
            .select_from(tree.join(g, on))
            .where(tree.c.level < first + MAX_LEVELS)
        )  # a link to no lot or serial adds a (NULL, NULL) row: it leads nowhere, dropped below

    if dialect == "sqlite":
        # An OR join scans all of genealogy per node on SQLite; two recursive terms
        # (SQLite >= 3.34) each use their own index.
        tree = tree.union(step(here_b == tree.c.batch_id), step(here_s == tree.c.serial_id))
    else:
        tree = tree.union(step(or_(here_b == tree.c.batch_id, here_s == tree.c.serial_id)))
    return (
        select(
            tree.c.batch_id,
            tree.c.serial_id,
            func.max(tree.c.variant_id).label("variant_id"),
            func.min(tree.c.level).label("level"),
            func.max(tree.c.level).label("deepest"),
        )
        # Filtered here, not in the step: an OR over the far end in the step kept SQLite
        # from reading genealogy's covering index alone.
        .where(or_(tree.c.batch_id.is_not(None), tree.c.serial_id.is_not(None)))
        .group_by(tree.c.batch_id, tree.c.serial_id)
    ).subquery(f"reached_{direction}")


def _reach_rows(session: Session, start: list[Node], direction: str, first: int) -> list[Any]:
    """The rows of ``reach``: a statement built once per shape, unless an id set is large
    enough for PostgreSQL's temporary table (``ctx.ids_in``)."""
    ids = _start_ids(start)
    if ctx.needs_id_table(session, *ids.values()):
        return ctx.rows(session, _reach_select(reach(session, start, direction, first)))
    params = {f"ids_{kind}": ctx.ids_value(session, v) for kind, v in ids.items()}
    stmt = _reach_cached(session.get_bind().dialect.name, direction, tuple(ids))
    return ctx.rows(session, stmt, first_level=first, **params)


def reached(session: Session, start: list[Node], direction: str) -> Reached:
    """Every node the start reaches, at any depth: one recursive query per MAX_LEVELS
    levels, each round going on from the nodes first reached at the previous round's last
    level. Nodes already known are never walked again, so a genealogy cycle ends too."""
    out = Reached()
    seeds, first = start, 0
    while seeds:
        rows = _reach_rows(session, seeds, direction, first)
        last = first + MAX_LEVELS
        # Comprehensions, not a loop with a branch per row: a recall reaches 100,000 units.
        # A node met again in a later round is already counted, nearer.
        new_b = [(b, v, lv) for b, _, v, lv, _ in rows if b is not None and b not in out.batches]
        new_s = [(s, v, lv) for b, s, v, lv, _ in rows if b is None and s not in out.serials]
        out.capped = out.capped or any(r[4] >= last for r in rows)
        out.batches.update({b: lv for b, _, lv in new_b})
        out.serials.update({s: lv for s, _, lv in new_s})
        out.per_variant.update([(v, "batches") for _, v, _ in new_b])
        out.per_variant.update([(v, "serials") for _, v, _ in new_s])
        fresh = [Node(batch_id=b) for b, _, lv in new_b if lv == last]
        fresh += [Node(serial_id=s) for s, _, lv in new_s if lv == last]
        seeds, first = fresh, last
    return out


def loop_warnings(session: Session, found: Reached) -> list[str]:
    """When a walk hit the level cap: name the lots/serials on a genealogy cycle, if any
    (a deep but acyclic genealogy needs no warning: the rounds reach all of it)."""
    if not found.capped:
        return []
    on_loop = _on_cycles(_edges_among(session, found))
    if not on_loop:
        return []
    names = sorted(_names(session, on_loop))
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return [
        f"The genealogy loops: {shown} are each among their own inputs. Every lot/serial is "
        "listed once, at its nearest level; correct the production records that link them."
    ]


def _edges_among(session: Session, found: Reached) -> set[tuple[tuple[str, int], tuple[str, int]]]:
    g = Genealogy.__table__
    cols = (g.c.input_batch_id, g.c.input_serial_id, g.c.output_batch_id, g.c.output_serial_id)
    parts = [
        select(*cols).where(ctx.ids_in(session, column, ids))
        for column, ids in (
            (g.c.output_batch_id, found.batches),
            (g.c.output_serial_id, found.serials),
        )
        if ids
    ]
    edges = set()
    for ib, is_, ob, os_ in ctx.rows(session, _union(parts)):
        src = ("b", ib) if ib is not None else ("s", is_)
        if src[1] is not None and src[1] in (found.batches if src[0] == "b" else found.serials):
            edges.add((src, ("b", ob) if ob is not None else ("s", os_)))
    return edges


def _on_cycles(edges: set[tuple[Any, Any]]) -> set[Any]:
    """Nodes left after peeling off, again and again, edges from a node nothing leads to
    or into a node that leads nowhere: the cycles (and paths between them)."""
    while True:
        sources, targets = {a for a, _ in edges}, {b for _, b in edges}
        kept = {(a, b) for a, b in edges if a in targets and b in sources}
        if kept == edges:
            return sources
        edges = kept


def _names(session: Session, nodes: set[tuple[str, int]]) -> list[str]:
    batches = [i for kind, i in nodes if kind == "b"]
    serials = [i for kind, i in nodes if kind == "s"]
    q = union_all(
        select(Batch.batch_number).where(ctx.ids_in(session, Batch.id, batches)),
        select(Serial.serial_number).where(ctx.ids_in(session, Serial.id, serials)),
    )
    return [r[0] for r in ctx.rows(session, q)]


# --- traces ----------------------------------------------------------------------------


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector paused while a trace or report is built: it walked
    the thousands (a recall: hundreds of thousands) of fresh, acyclic dicts and rows again
    and again, a fifth of a recall's time and the slowest tenth of forward traces.
    Reference counting still frees everything; the pause ends with the block, also on
    error."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def trace(
    session: Session,
    start: list[Node],
    direction: str,
    limit: int | None = PAGE_SIZE,
    page: int = 1,
) -> Trace:
    """Forward: every product made from ``start`` and every shipment of any of them.
    Backward: everything that went into it, down to receipts (supplier lots).
    Totals, levels and products cover the whole trace; nodes and events are one page
    (``limit=None``: all of them). A fixed number of statements however far it reaches."""
    with no_cycle_collection():
        return _trace(session, start, direction, limit, page)


def _trace(
    session: Session, start: list[Node], direction: str, limit: int | None, page: int
) -> Trace:
    if direction not in ("forward", "backward"):
        raise errors.refuse(
            errors.VALIDATION_FAILED, "direction must be 'forward' or 'backward'.", path="direction"
        )
    found = reached(session, start, direction)
    result = Trace(direction, start, limit=limit, page=page, reached=found)
    result.warnings = loop_warnings(session, found)
    result.levels = _levels(found)
    result.variants = variants(session, found)
    keys = _page(ordered(found), limit, page)
    result.nodes = describe_nodes(session, found, keys, result.variants)
    result.links = _links(session, found, keys, direction)
    result.events, events = lines_page(session, found, direction, limit, page)
    result.totals = {
        "nodes": len(found.batches) + len(found.serials),
        "batches": len(found.batches),
        "serials": len(found.serials),
        **events,
    }
    return result


def _page(items: list[Any], limit: int | None, page: int) -> list[Any]:
    return items if limit is None else items[(page - 1) * limit : page * limit]


def ordered(found: Reached) -> list[tuple[int, int, int]]:
    """(level, 0 batch / 1 serial, id): by level, batches first, then by id."""
    return sorted(
        [(level, 0, b) for b, level in found.batches.items()]
        + [(level, 1, s) for s, level in found.serials.items()]
    )


def _levels(found: Reached) -> list[dict[str, Any]]:
    batches, serials = Counter(found.batches.values()), Counter(found.serials.values())
    return [
        {"level": level, "batches": batches[level], "serials": serials[level]}
        for level in sorted(set(batches) | set(serials))
    ]


def variants(session: Session, found: Reached) -> list[dict[str, Any]]:
    """Reached batches and serials per product (counted while reaching), named in one
    query over the few products; the nodes take their product names from here."""
    ids = sorted({v for v, _ in found.per_variant})
    if not ids:
        return []
    q = (
        select(Variant.id, Variant.sku, Item.name, Item.uom)
        .join(Item, Item.id == Variant.item_id)
        .where(Variant.id.in_(ids))
    )
    names = {v: (sku, name, uom) for v, sku, name, uom in ctx.rows(session, q)}
    return [
        {
            "variant_id": v,
            "sku": names.get(v, (None,) * 3)[0],
            "item_name": names.get(v, (None,) * 3)[1],
            "uom": names.get(v, (None,) * 3)[2],
            "batches": found.per_variant[(v, "batches")],
            "serials": found.per_variant[(v, "serials")],
        }
        for v in ids
    ]


def describe_nodes(
    session: Session,
    found: Reached,
    keys: list[tuple[int, int, int]],
    products: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The listed nodes (``keys`` from ``ordered``) with their names, in that order; the
    product names come from ``variants`` (a join per node doubled the cost of 100,000)."""
    names = {p["variant_id"]: (p["sku"], p["item_name"], p["uom"]) for p in products}
    out: dict[tuple[int, int], dict[str, Any]] = {}
    batch_ids = [i for _, kind, i in keys if kind == 0]
    serial_ids = [i for _, kind, i in keys if kind == 1]
    if batch_ids:
        out.update(_describe_batches(session, found, batch_ids, names))
    if serial_ids:
        out.update(_describe_serials(session, found, serial_ids, names))
    return [out[(kind, i)] for _, kind, i in keys if (kind, i) in out]


Names = dict[int, tuple[Any, Any, Any]]
PRODUCT_KEYS = ("sku", "item_name", "uom")
NO_PRODUCT: dict[str, Any] = {}


def _products(names: Names) -> dict[int, dict[str, Any]]:
    """sku, item name and unit per product, to merge into each node of it."""
    return {
        v: {k: x for k, x in zip(PRODUCT_KEYS, n, strict=True) if x is not None}
        for v, n in names.items()
    }


def _describe_batches(
    session: Session, found: Reached, ids: list[int], names: Names
) -> dict[tuple[int, int], dict[str, Any]]:
    q = select(
        Batch.id,
        Batch.batch_number,
        Batch.variant_id,
        Batch.expiration_date,
        Batch.supplier_lot,
        Batch.hold_reason,
    ).where(ctx.ids_in(session, Batch.id, ids))
    levels, products = found.batches, _products(names)
    return {
        (0, i): _known(
            {
                "level": levels[i],
                "kind": "batch",
                "batch_id": i,
                "batch_number": number,
                "variant_id": v,
                **products.get(v, NO_PRODUCT),
            },
            expiration_date=expiry,
            supplier_lot=supplier_lot,
            hold_reason=hold,
        )
        for i, number, v, expiry, supplier_lot, hold in ctx.rows(session, q)
    }


def _known(node: dict[str, Any], **maybe: Any) -> dict[str, Any]:
    """The node with those of ``maybe`` that are known (``ctx.known``)."""
    return node | ctx.known(maybe)


def _describe_serials(
    session: Session, found: Reached, ids: list[int], names: Names
) -> dict[tuple[int, int], dict[str, Any]]:
    q = select(
        Serial.id,
        Serial.serial_number,
        Serial.variant_id,
        Serial.status,
        Serial.location_id,
        Serial.hold_reason,
    ).where(ctx.ids_in(session, Serial.id, ids))
    levels, products = found.serials, _products(names)
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for i, number, v, status, location_id, hold in ctx.rows(session, q):
        # Keys set one by one, not merged from dicts of the known values: three dicts
        # fewer per unit, a tenth of a recall's 100,000 units described.
        node = out[(1, i)] = {
            "level": levels[i],
            "kind": "serial",
            "serial_number_id": i,
            "serial_number": number,
            "variant_id": v,
            **products.get(v, NO_PRODUCT),
            "status": status,
        }
        if location_id is not None:
            node["location_id"] = location_id
        if hold is not None:
            node["hold_reason"] = hold
    return out


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


def _links(
    session: Session, found: Reached, keys: list[tuple[int, int, int]], direction: str
) -> list[dict[str, Any]]:
    """The genealogy edges by which the listed nodes were reached (from another reached
    node): enough to draw them. One statement, an index per end."""
    g = Genealogy.__table__
    forward = direction == "forward"
    ends = (
        (g.c.output_batch_id, g.c.output_serial_id)
        if forward
        else (g.c.input_batch_id, g.c.input_serial_id)
    )
    listed = ([i for _, k, i in keys if k == 0], [i for _, k, i in keys if k == 1])
    parts = [
        select(g.c.id, *(g.c[name] for name in LINK_COLUMNS)).where(ctx.ids_in(session, col, ids))
        for col, ids in zip(ends, listed, strict=True)
        if ids
    ]
    if not parts:
        return []
    side = "input" if forward else "output"
    edges: dict[int, dict[str, Any]] = {}
    for r in ctx.rows(session, _union(parts)):
        link = dict(zip(LINK_COLUMNS, r[1:], strict=True))
        b, s = link[f"{side}_batch_id"], link[f"{side}_serial_id"]
        if (b is not None and b in found.batches) or (s is not None and s in found.serials):
            edges.setdefault(r[0], link)
    return [edges[i] for i in sorted(edges)]


# --- shipments and origins, as lines ---------------------------------------------------


@dataclass(frozen=True)
class Lines:
    """Shipment or origin lines as SQL: one SELECT per kind of node, each giving
    resource_type, resource_id, batch_id, quantity, reason and ``mid``, the movement that
    dates and places the line (its product, place, date and document are read for the
    listed lines only). To list a line's serials, ``serial_rule`` picks a row's serial
    transactions and ``serial_kept`` the serials whose transactions there count."""

    parts: list[Any]
    serial_rule: Any
    serial_kept: Any


def _shipped(reason: Any, change: Any) -> Any:
    """HAVING of a (document row, lot or serial) group of delivery and revert rows: out
    on balance, and the row did deliver it (a revert alone, say of a receipt, ships
    nothing). A grouped test, not an EXISTS per row: PostgreSQL priced the EXISTS so high
    that it compiled every trace with JIT (25 ms of a 40 ms answer)."""
    return and_(func.sum(change) < 0, func.count(case((reason == "delivery", 1))) > 0)


def shipment_lines(kinds: tuple[str, ...], where: IdsWhere, numbers: bool = False) -> Lines:
    """Net shipped quantity per shipping document row and lot (reverts cancel out); for
    serials per shipping row, counting units whose net change there is out. ``numbers``:
    each line also aggregates its serial numbers (``SEP``-joined; NULL for a lot)."""
    st = SerialTransaction
    shipping = and_(st.quantity_change != 0, st.reason.in_(SHIPPING_REASONS))
    kept = _shipped(st.reason, st.quantity_change)
    parts = []
    if "batches" in kinds:
        m = Movement
        parts.append(
            select(
                m.resource_type,
                m.resource_id,
                m.batch_id,
                (-func.sum(m.quantity)).label("quantity"),
                literal("delivery").label("reason"),
                func.max(m.id).label("mid"),
                *_no_numbers(numbers),
            )
            .where(where("batches", m.batch_id), m.reason.in_(SHIPPING_REASONS))
            .group_by(m.batch_id, m.resource_type, m.resource_id)  # batch first: its index
            .having(_shipped(m.reason, m.quantity))
        )
    if "serials" in kinds:
        net = (
            select(
                st.resource_type.label("rt"),
                st.resource_id.label("ri"),
                st.serial_id,
                func.max(st.movement_id).label("mid"),
            )
            .where(where("serials", st.serial_id), shipping)
            .group_by(st.serial_id, st.resource_type, st.resource_id)  # the index order
            .having(kept)
        ).subquery("net")
        parts.append(_serial_lines(net, literal("delivery"), func.max(net.c.mid), numbers))
    return Lines(parts, shipping, kept)


def _no_numbers(numbers: bool) -> list[Any]:
    return [cast(null(), String).label("numbers")] if numbers else []


def _serial_lines(net: Any, reason: Any, mid: Any, numbers: bool = False) -> Any:
    """Per document row: the units (one ``net`` row per serial) and the row's movement;
    with ``numbers``, their serial numbers too (a primary-key lookup per unit)."""
    q = select(
        net.c.rt.label("resource_type"),
        net.c.ri.label("resource_id"),
        cast(null(), Integer).label("batch_id"),
        func.count().label("quantity"),
        reason.label("reason"),
        mid.label("mid"),
    ).group_by(net.c.rt, net.c.ri)
    if numbers:
        q = q.add_columns(
            func.aggregate_strings(Serial.serial_number, SEP).label("numbers")
        ).join_from(net, Serial, Serial.id == net.c.serial_id)
    return q


def origin_lines(kinds: tuple[str, ...], where: IdsWhere, numbers: bool = False) -> Lines:
    """Where reached lots/serials entered stock from outside: receipts, adjustments and
    imports, net of their reverts, per document row and lot (serials: per row)."""
    st = SerialTransaction
    origin = and_(
        st.quantity_change == 1, st.reason.in_(ORIGIN_REASONS), st.is_active.is_(True)
    )  # a revert deactivates the serials it took back
    parts = []
    if "batches" in kinds:
        parts.append(_batch_origin_lines(where, numbers))
    if "serials" in kinds:
        net = (
            select(
                st.resource_type.label("rt"),
                st.resource_id.label("ri"),
                st.serial_id,
                func.min(st.movement_id).label("mid"),
            )
            .where(where("serials", st.serial_id), origin)
            .group_by(st.serial_id, st.resource_type, st.resource_id)  # the index order
        ).subquery("net")
        parts.append(_serial_lines(net, cast(null(), String), func.min(net.c.mid), numbers))
    return Lines(parts, origin, func.count() > 0)


def _batch_origin_lines(where: IdsWhere, numbers: bool) -> Any:
    """A reverted receipt nets out with its revert (same document row), as shipments do;
    the line is dated and named by its first origin movement, never by the revert."""
    m = Movement
    first = func.min(case((m.reason != "revert", m.id)))
    return (
        select(
            m.resource_type,
            m.resource_id,
            m.batch_id,
            func.sum(m.quantity).label("quantity"),
            cast(null(), String).label("reason"),
            first.label("mid"),
            *_no_numbers(numbers),
        )
        .where(where("batches", m.batch_id), m.reason.in_((*ORIGIN_REASONS, "revert")))
        .group_by(m.batch_id, m.resource_type, m.resource_id)  # batch first: its index
        .having(func.sum(m.quantity) > 0, first.is_not(None))
    )


def lines_page(
    session: Session, found: Reached, direction: str, limit: int | None = None, page: int = 1
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of shipment (forward) or origin (backward) lines, all with ``limit=None``,
    in ledger order, with the count and quantity of all lines from window functions in
    the same statement. Sorting needs only the movement ids, so the movements' details
    are read for the page alone."""
    sets = {"batches": found.batches, "serials": found.serials}
    kinds = tuple(k for k, v in sets.items() if v)
    if not kinds:
        return [], _totals([])
    dialect = session.get_bind().dialect.name
    make = shipment_lines if direction == "forward" else origin_lines
    if limit is None or ctx.needs_id_table(session, *sets.values()):
        where: IdsWhere = lambda kind, column: ctx.ids_in(session, column, sets[kind])  # noqa: E731
        lines = make(kinds, where, limit is None)  # the recall's lines list their serials
        every = _union(lines.parts).subquery("lines")
        if limit is None:
            return _all_lines(session, every)
        stmt, params = _paged(every), {}
    else:
        stmt, lines = _page_cached(dialect, direction, kinds)
        params = {f"ids_{kind}": ctx.ids_value(session, sets[kind]) for kind in kinds}
    rows = ctx.rows(session, stmt, limit=limit, offset=(page - 1) * limit, **params)
    if not rows and page > 1:  # past the end: the totals still tell how many there are
        return [], _totals(ctx.rows(session, stmt, limit=1, offset=0, **params))
    events = _full_lines(session, rows)
    _attach_serials(session, found, lines, events)
    return events, _totals(rows)


@functools.cache
def _page_cached(dialect: str, direction: str, kinds: tuple[str, ...]) -> tuple[Any, Lines]:
    """A page of lines built once per shape, the ids bound as ``ids_batches`` and
    ``ids_serials``: building it cost more than running it for a small trace."""
    make = shipment_lines if direction == "forward" else origin_lines
    lines = make(kinds, lambda kind, column: ctx.ids_param(dialect, column, f"ids_{kind}"))
    return _paged(_union(lines.parts).subquery("lines")), lines


def _paged(every: Any) -> Any:
    """A page (``limit``, ``offset``) of the lines in ledger order, with the count and
    quantity of all of them from window functions."""
    ordered = (
        select(
            every,
            func.count().over().label("total"),
            func.sum(every.c.quantity).over().label("total_q"),
        )
        .order_by(every.c.mid, every.c.batch_id)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    return _line_details(ordered.subquery("page"))


def _all_lines(session: Session, every: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every line (the recall's 100,000s): serial numbers aggregated in the same statement,
    no window functions and no ORDER BY in SQL (counted, summed and put in ledger order
    here, a fifth of the statement's time at full scale)."""
    found = ctx.rows(session, _with_details(every, every.c.numbers))
    found.sort(key=lambda r: (r[10], r[2] is not None, r[2] or 0))
    events = _full_lines(session, found)
    quantity = sum((e["quantity"] for e in events), Decimal(0))
    return events, {"events": len(events), "quantity": quantity}


def _full_lines(session: Session, rows: list[Any]) -> list[Any]:
    """Lines (``_with_details`` columns) with their documents' context and places: a
    delivery's from its order and customer, any other's from ``ctx.describe``. Unknown
    values are left out (as the API shows them: no second pass over a recall's 100,000s
    of lines to drop them); one pass, no call per line but the order's context."""
    delivery = ctx.FULFILMENT_ROW
    orders = ctx.deliveries(session, {r[1] for r in rows if r[0] == delivery})
    context = ctx.describe(session, {r[:2] for r in rows if r[0] != delivery})
    customers = ctx.customers(session, {o[CUSTOMER] for o in orders.values()} - {None})
    places = ctx.location_names(session, {r[4] for r in rows})
    sales, nothing, decimal = ctx.sales_context, NO_CONTEXT, Decimal
    out = []
    for r in rows:
        rtype, rid, batch_id, variant_id, location_id, q, at, document, order_no, reason = r[:10]
        order = orders.get(rid) if rtype == delivery else None
        if order is None:
            e = context.get((rtype, rid), nothing).copy()
        else:
            e = sales(*order)
            if order[CUSTOMER] is not None:
                e.update(customers.get(order[CUSTOMER], nothing))
        e["resource_type"] = rtype
        e["resource_id"] = rid
        e["variant_id"] = variant_id
        e["quantity"] = q if type(q) is decimal else decimal(q)
        e["date"] = at
        e["reason"] = reason
        if r[11]:
            e["serial_numbers"] = sorted(r[11].split(SEP))
        elif batch_id is None:
            e["serial_numbers"] = []  # a page's serial lines: ``_attach_serials`` fills it
        else:  # a lot's line: no list, so the line holds no object the collector tracks
            e["serial_numbers"] = NO_SERIALS
            e["batch_id"] = batch_id
        if location_id is not None:
            e["location_id"] = location_id
            e["location"] = places.get(location_id)
        if document:  # the line's own document and order number win over the context's
            e["document"] = document
        if order_no:
            e["order_no"] = order_no
        out.append(e)
    return out


NO_CONTEXT: dict[str, Any] = {}
NO_SERIALS = ()  # untracked by the garbage collector: a recall's 100,000 lot lines were
# 200,000 tracked objects (a list and the line), a 0.1 s collection after each report
CUSTOMER = ctx.DELIVERY.index("customer_id")


def _with_details(lines: Any, numbers: Any, *extra: Any) -> Any:
    """The lines (``Lines`` parts, or a page of them) with their movement's product, place,
    date and document, their serial ``numbers`` (or NULL), then ``extra`` columns."""
    mv = aliased(Movement)
    return select(
        lines.c.resource_type,
        lines.c.resource_id,
        lines.c.batch_id,
        mv.variant_id,
        mv.location_id,
        lines.c.quantity,
        mv.movement_date,
        mv.document,
        mv.caused_by_order_no,
        func.coalesce(lines.c.reason, mv.reason),
        lines.c.mid,
        numbers,
        *extra,
    ).join_from(lines, mv, mv.id == lines.c.mid)


def _line_details(page: Any) -> Any:
    q = _with_details(page, cast(null(), String), page.c.total, page.c.total_q)
    return q.order_by(page.c.mid, page.c.batch_id)


def _union(parts: Sequence[Any]) -> Any:
    """One SELECT as it is, several as UNION ALL."""
    selects: list[Select[Any]] = list(parts)
    return selects[0] if len(selects) == 1 else union_all(*selects)


def _totals(rows: list[Any]) -> dict[str, Any]:
    if not rows:
        return {"events": 0, "quantity": Decimal(0)}
    return {"events": int(rows[0].total), "quantity": Decimal(rows[0].total_q or 0)}


def _attach_serials(
    session: Session, found: Reached, lines: Lines, events: list[dict[str, Any]]
) -> None:
    """The serial numbers of the listed serial lines: each row's serial transactions by
    ``ix_serial_transactions_resource``, netted per serial, kept if the trace reached it."""
    by_row = {(e["resource_type"], e["resource_id"]): e for e in events if "batch_id" not in e}
    if not by_row:
        return
    st = SerialTransaction
    types: dict[str, list[int]] = {}
    for rtype, rid in by_row:
        types.setdefault(rtype, []).append(rid)
    q = _union(
        [
            select(st.resource_type, st.resource_id, st.serial_id, Serial.serial_number)
            .join(Serial, Serial.id == st.serial_id)
            .where(st.resource_type == rtype, ctx.ids_in(session, st.resource_id, ids))
            .where(lines.serial_rule)
            .group_by(st.resource_type, st.resource_id, st.serial_id, Serial.serial_number)
            .having(lines.serial_kept)
            for rtype, ids in sorted(types.items())
        ]
    )
    for rtype, rid, serial_id, number in ctx.rows(session, q):
        if serial_id in found.serials:
            by_row[(rtype, rid)]["serial_numbers"].append(number)
    for e in by_row.values():
        e["serial_numbers"].sort()


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
    known_b = _known_ids(session, Batch, batch_ids)
    known_s = _known_ids(session, Serial, serial_ids)
    for n in nodes:
        if (n.batch_id and n.batch_id not in known_b) or (
            n.serial_id and n.serial_id not in known_s
        ):
            what = "Batch" if n.batch_id else "Serial number"
            raise errors.NotFound(what, n.batch_id or n.serial_id)
    return nodes


def _known_ids(session: Session, model: Any, ids: Sequence[int]) -> set[int]:
    """Which of the ids exist (no statement for none)."""
    if not ids:
        return set()
    return set(session.scalars(select(model.id).where(model.id.in_(list(ids)))))

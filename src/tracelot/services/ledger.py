"""The only way stock changes: movements, cached stock and serial state, together.

Callers describe a document's effect as ``Change``s (one per variant, location
and batch); ``post`` writes one movement per change, updates the cached stock
with a conditional UPDATE (so stock never goes below zero, even with two
server processes), and moves the serials named in each change with one UPDATE
per change, checked by row count. Work is per change, never per unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import InternalTraversal

from tracelot.db.base import UtcDateTime, utcnow
from tracelot.db.models import Batch, Location, Movement, Serial, SerialTransaction, Stock, Variant
from tracelot.db.sql import CHUNK, chunks, table, upsert
from tracelot.domain import errors
from tracelot.services import holds


class unindexed(ColumnElement[Any]):  # noqa: N801 - reads as a function in a WHERE clause
    """A column SQLite must not pick an index for (``+col``); other databases see ``col``.

    Without statistics SQLite prefers an index on a few equality columns (say variant,
    location, status: every serial on hand) to five primary keys named in an IN list.
    """

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # the cache key

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(unindexed)
def _plain(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(unindexed, "sqlite")
def _plus(element: unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.column, **kw))


EPSILON = Decimal("0.0000005")
ON_HAND = ("in_stock", "reserved")


@dataclass(frozen=True)
class Doc:
    """The document a set of changes belongs to, and how it reads in history."""

    reason: str  # receipt | production | consumption | delivery | adjustment | transfer | ...
    resource_type: str
    resource_id: int
    user: str
    document: str | None = None
    caused_by_order_no: str | None = None
    when: datetime = field(default_factory=utcnow)
    serial_status_out: str = "removed"  # status of serials this document takes out


@dataclass
class Change:
    """A signed quantity of a variant (and batch) at a location; serials if tracked.

    ``serial_ids`` move with the quantity: in when it is positive, out when
    negative. A zero quantity with serials *connects* serials to stock that is
    already there (SPEC §1: none -> serial).
    """

    variant_id: int
    location_id: int
    quantity: Decimal
    batch_id: int | None = None
    serial_ids: Sequence[int] = ()
    cost_per_unit: Decimal | None = None
    resource_type: str | None = None  # per-change override (e.g. each row of a document)
    resource_id: int | None = None
    serial_direction: int = 0  # with quantity 0: +1 connects serials, -1 disconnects
    hold: Hold | None = None  # outgoing serials no row holds yet, held as they leave


@dataclass(frozen=True)
class Hold:
    """Serials of an outgoing change that are free (in stock, held by no document row):
    the change holds them for ``holder`` as it ships them, exactly as ``hold_serials``
    then the shipment would, with the same refusals, in the shipment's own statements.
    """

    holder_type: str
    holder_id: int
    serial_ids: Sequence[int]
    user: str


BULK_MIN = 8  # from this many incoming changes (no serials), one statement per kind


def post(session: Session, doc: Doc, changes: Sequence[Change]) -> list[int]:
    """Apply every change in the caller's transaction; returns the movement ids."""
    if len(changes) >= BULK_MIN and all(c.quantity > 0 and not c.serial_ids for c in changes):
        return _post_incoming(session, doc, changes)
    return [_post_one(session, doc, c) for c in changes]


def _post_incoming(session: Session, doc: Doc, changes: Sequence[Change]) -> list[int]:
    """Many receipts at once (e.g. 500 batches): one upsert, one movement INSERT.

    Only additions, so nothing can go below zero; balances run on from what
    each variant had at each location before.
    """
    places = {(c.variant_id, c.location_id) for c in changes}
    balance: dict[tuple[int, int], Decimal] = {p: Decimal(0) for p in places}
    for v, loc, qty in session.execute(
        select(Stock.variant_id, Stock.location_id, func.sum(Stock.quantity))
        .where(tuple_(Stock.variant_id, Stock.location_id).in_(list(places)))
        .group_by(Stock.variant_id, Stock.location_id)
    ):
        balance[(v, loc)] = Decimal(qty)
    per_key: dict[tuple[int, int, int], Decimal] = {}
    for c in changes:
        key = (c.variant_id, c.location_id, c.batch_id or 0)
        per_key[key] = per_key.get(key, Decimal(0)) + c.quantity
    stmt = upsert(session, Stock)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["variant_id", "location_id", "batch_key"],
            set_={"quantity": Stock.quantity + stmt.excluded.quantity},
        ),
        [
            {
                "variant_id": v,
                "location_id": loc,
                "batch_id": b or None,
                "batch_key": b,
                "quantity": q,
            }
            for (v, loc, b), q in per_key.items()
        ],
    )
    now, rows = utcnow(), []
    for c in changes:
        balance[(c.variant_id, c.location_id)] += c.quantity
        rows.append(
            {
                "variant_id": c.variant_id,
                "location_id": c.location_id,
                "batch_id": c.batch_id,
                "quantity": c.quantity,
                "balance_after": balance[(c.variant_id, c.location_id)],
                "cost_per_unit": c.cost_per_unit,
                "reason": doc.reason,
                "resource_type": c.resource_type or doc.resource_type,
                "resource_id": c.resource_id if c.resource_id is not None else doc.resource_id,
                "document": doc.document,
                "caused_by_order_no": doc.caused_by_order_no,
                "user": doc.user,
                "movement_date": doc.when,
                "created_at": now,
            }
        )
    return [
        int(i) for i in session.execute(insert(Movement).returning(Movement.id), rows).scalars()
    ]


# Statements built once: SQLAlchemy's compiled cache serves every later call, so a
# change costs no statement construction (the ledger runs for every document).
_stock, _movements, _serials = table(Stock), table(Movement), table(Serial)
_links, _batches = table(SerialTransaction), table(Batch)
_Q = Stock.__table__.c.quantity.type
_WHEN = bindparam("when", type_=UtcDateTime)
_TAKE = (
    update(_stock)
    .where(
        _stock.c.variant_id == bindparam("v"),
        _stock.c.location_id == bindparam("loc"),
        _stock.c.batch_key == bindparam("key"),
        _stock.c.quantity + bindparam("q", type_=_Q) >= -EPSILON,
    )
    .values(quantity=_stock.c.quantity + bindparam("q", type_=_Q))
)
# A delivery or consumption never takes a held batch: the hold is part of the condition,
# so the check costs no statement of its own (a refusal then names the hold).
_TAKE_UNHELD = _TAKE.where(
    ~exists().where(_batches.c.id == bindparam("key"), _batches.c.hold_reason.is_not(None))
)
# The balance after the change is read inside the movement's INSERT (after the stock
# UPDATE of the same transaction): no SELECT of its own.
_MOVE = (
    insert(_movements)
    .values(
        balance_after=select(func.coalesce(func.sum(_stock.c.quantity), 0))
        .where(
            _stock.c.variant_id == bindparam("bal_v"), _stock.c.location_id == bindparam("bal_loc")
        )
        .scalar_subquery()
    )
    .returning(_movements.c.id)
)
_moved = select(_links.c.serial_id).where(_links.c.movement_id == bindparam("mid"))
_ids: Any = bindparam("ids", expanding=True)


def _serials_out(ids: Any) -> Any:
    return (
        update(_serials)
        .where(  # by primary key; the rest is the condition, checked by row count
            _serials.c.id.in_(ids),
            unindexed(_serials.c.variant_id) == bindparam("v"),
            unindexed(_serials.c.location_id) == bindparam("loc"),
            unindexed(_serials.c.status).in_(ON_HAND),
        )
        .values(status=bindparam("out"), location_id=None, updated_at=_WHEN)
    )


def _serials_in(ids: Any) -> Any:
    return (
        update(_serials)
        .where(
            _serials.c.id.in_(ids),
            unindexed(_serials.c.variant_id) == bindparam("v"),
            unindexed(_serials.c.status).not_in(ON_HAND),
        )
        .values(
            status=case((_serials.c.holder_type.is_(None), "in_stock"), else_="reserved"),
            location_id=bindparam("loc"),
            updated_at=_WHEN,
        )
    )


# Serials named by id (a list of up to CHUNK: their primary keys, whatever the other
# conditions' indexes offer), or through the movement's links (a receipt of thousands).
_SERIALS_OUT = {False: _serials_out(_ids), True: _serials_out(_moved.scalar_subquery())}
_SERIALS_OUT_UNHELD = {
    k: v.where(_serials.c.hold_reason.is_(None)) for k, v in _SERIALS_OUT.items()
}
_SERIALS_IN = {False: _serials_in(_ids), True: _serials_in(_moved.scalar_subquery())}
_HOLD = (
    update(_serials)
    .where(
        _serials.c.id.in_(bindparam("ids", expanding=True)),
        _serials.c.status == "in_stock",
        _serials.c.holder_type.is_(None),
        _serials.c.location_id == bindparam("loc"),
        _serials.c.hold_reason.is_(None),
    )
    .values(
        status="reserved", holder_type=bindparam("ht"), holder_id=bindparam("hid"), updated_at=_WHEN
    )
)
_LINK = insert(_links)
_LINK_COLUMNS = ["serial_id", "movement_id", "resource_type", "resource_id"]
_LINK_COLUMNS += ["quantity_change", "is_active", "reason", "user", "transaction_date"]
# The links of many serials (a receipt of thousands) as ONE INSERT ... SELECT over
# their primary keys: an executemany built and bound a parameter set per serial (W1's
# receive-serials: 4.75x -> 3.75x the floor). Ids that are no serial add no link: the
# row count of the serials' UPDATE then refuses the change, as for a serial in the
# wrong state.
_LINK_MANY = insert(_links).from_select(
    _LINK_COLUMNS,
    select(
        _serials.c.id,
        bindparam("mid", type_=BigInteger),
        bindparam("rt", type_=String),
        bindparam("rid", type_=BigInteger),
        bindparam("dir", type_=Integer),
        true(),
        bindparam("reason", type_=String),
        bindparam("user", type_=String),
        _WHEN,
    ).where(_serials.c.id.in_(_ids)),
)
LINKS_ONE_BY_ONE = 20  # up to this many serials, one parameter set each is cheaper


def connection(session: Session) -> Connection:
    """The session's connection for Core statements, pending ORM changes flushed first."""
    session.flush()
    return session.connection()


def _post_one(session: Session, doc: Doc, ch: Change) -> int:
    blocked = doc.reason in holds.BLOCKED_REASONS and (ch.quantity < 0 or ch.serial_direction < 0)
    if blocked and ch.quantity == 0 and ch.batch_id:  # no stock UPDATE carries the batch hold
        holds.check_not_on_hold(session, [ch.batch_id], ch.serial_ids)
    conn = connection(session)
    if ch.quantity > 0:
        _add_stock(session, conn, ch)
    elif ch.quantity < 0:
        _take_stock(session, conn, ch, blocked)
    rtype = ch.resource_type or doc.resource_type
    rid = ch.resource_id if ch.resource_id is not None else doc.resource_id
    movement_id = conn.execute(
        _MOVE,
        {
            "variant_id": ch.variant_id,
            "location_id": ch.location_id,
            "batch_id": ch.batch_id,
            "quantity": ch.quantity,
            "cost_per_unit": ch.cost_per_unit,
            "reason": doc.reason,
            "resource_type": rtype,
            "resource_id": rid,
            "document": doc.document,
            "caused_by_order_no": doc.caused_by_order_no,
            "user": doc.user,
            "movement_date": doc.when,
            "created_at": utcnow(),
            "bal_v": ch.variant_id,
            "bal_loc": ch.location_id,
        },
    ).scalar_one()
    if ch.serial_ids:
        _move_serials(session, conn, doc, ch, movement_id, rtype, rid, blocked)
    return int(movement_id)


_ADD: dict[str, Any] = {}  # the stock upsert, per dialect


def _add_stock(session: Session, conn: Connection, ch: Change) -> None:
    stmt = _ADD.get(conn.dialect.name)
    if stmt is None:
        ins = upsert(session, _stock)
        stmt = _ADD[conn.dialect.name] = ins.on_conflict_do_update(
            index_elements=["variant_id", "location_id", "batch_key"],
            set_={"quantity": _stock.c.quantity + ins.excluded.quantity},
        )
    conn.execute(
        stmt,
        {
            "variant_id": ch.variant_id,
            "location_id": ch.location_id,
            "batch_id": ch.batch_id,
            "batch_key": ch.batch_id or 0,
            "quantity": ch.quantity,
        },
    )


def _take_stock(session: Session, conn: Connection, ch: Change, blocked: bool) -> None:
    """Conditional decrement: refuses (and names the shortfall) instead of going negative.

    For a delivery or consumption the batch must not be on hold either; when the
    UPDATE finds no row, the hold is named first (as a check before it would have).
    """
    result = conn.execute(
        _TAKE_UNHELD if blocked and ch.batch_id else _TAKE,
        {
            "v": ch.variant_id,
            "loc": ch.location_id,
            "key": ch.batch_id or 0,
            "q": ch.quantity,
        },
    )
    if result.rowcount == 1:
        return
    if ch.hold is not None and ch.hold.serial_ids:  # the hold came first, and refused first
        _check_free(session, ch, ch.hold)
    if blocked:
        holds.check_not_on_hold(session, [ch.batch_id], ch.serial_ids)
    on_hand = session.scalar(
        select(Stock.quantity).where(
            Stock.variant_id == ch.variant_id,
            Stock.location_id == ch.location_id,
            Stock.batch_key == (ch.batch_id or 0),
        )
    ) or Decimal(0)
    raise errors.refuse(
        errors.INSUFFICIENT_STOCK,
        f"Only {_fmt(on_hand)} of {_describe(session, ch)} on hand; cannot take "
        f"{_fmt(-ch.quantity)}. Reduce the quantity or receive stock first.",
        path="quantity",
        on_hand=str(on_hand),
        variant_id=ch.variant_id,
        location_id=ch.location_id,
        batch_id=ch.batch_id,
    )


def _move_serials(
    session: Session,
    conn: Connection,
    doc: Doc,
    ch: Change,
    movement_id: int,
    rtype: str,
    rid: int,
    blocked: bool,
) -> None:
    direction = ch.serial_direction or (-1 if ch.quantity < 0 else 1)
    links = [
        {
            "serial_id": sid,
            "movement_id": movement_id,
            "resource_type": rtype,
            "resource_id": rid,
            "quantity_change": direction,
            "reason": doc.reason,
            "user": doc.user,
            "transaction_date": doc.when,
        }
        for sid in ch.serial_ids
    ]
    if direction < 0 and ch.hold is not None and ch.hold.serial_ids:
        _hold_and_ship(session, conn, doc, ch, ch.hold, blocked, links)
        return
    if len(links) > LINKS_ONE_BY_ONE and len(set(ch.serial_ids)) == len(links):
        _link_many(conn, doc, list(ch.serial_ids), movement_id, rtype, rid, direction)
    else:  # a duplicate id is linked twice, and refused by the UPDATE's row count
        conn.execute(_LINK, links)  # Core: no ORM bulk overhead
    params: dict[str, Any] = {"v": ch.variant_id, "loc": ch.location_id, "when": doc.when}
    many = len(ch.serial_ids) > CHUNK
    if many:
        params["mid"] = movement_id
    else:
        params["ids"] = list(ch.serial_ids)
    if direction < 0:
        stmt = (_SERIALS_OUT_UNHELD if blocked else _SERIALS_OUT)[many]
        params["out"] = doc.serial_status_out
    else:
        stmt = _SERIALS_IN[many]
    changed = conn.execute(stmt, params).rowcount
    if changed != len(ch.serial_ids):
        if blocked:  # a serial on hold is named as such, before any other problem
            holds.check_not_on_hold(session, [ch.batch_id], ch.serial_ids)
        _refuse_serials(session, ch, direction)


def _link_many(
    conn: Connection,
    doc: Doc,
    serial_ids: list[int],
    movement_id: int,
    rtype: str,
    rid: int,
    direction: int,
) -> None:
    params = {"mid": movement_id, "rt": rtype, "rid": rid, "dir": direction}
    params |= {"reason": doc.reason, "user": doc.user, "when": doc.when}
    for part in chunks(serial_ids):
        conn.execute(_LINK_MANY, params | {"ids": part})


def _hold_and_ship_stmt(blocked: bool) -> Any:
    new = _serials.c.id.in_(bindparam("new", expanding=True))
    stmt = (
        update(_serials)
        .where(
            _serials.c.id.in_(_ids),
            unindexed(_serials.c.variant_id) == bindparam("v"),
            unindexed(_serials.c.location_id) == bindparam("loc"),
            or_(  # free to hold (as hold_serials), or on hand already (as a shipment)
                and_(new, unindexed(_serials.c.status) == "in_stock")
                & _serials.c.holder_type.is_(None)
                & _serials.c.hold_reason.is_(None),
                and_(~new, unindexed(_serials.c.status).in_(ON_HAND)),
            ),
        )
        .values(
            status=bindparam("out"),
            location_id=None,
            holder_type=case((new, bindparam("ht")), else_=_serials.c.holder_type),
            holder_id=case((new, bindparam("hid")), else_=_serials.c.holder_id),
            updated_at=_WHEN,
        )
        .returning(_serials.c.id)
    )
    return stmt.where(_serials.c.hold_reason.is_(None)) if blocked else stmt


_HOLD_AND_SHIP = {False: _hold_and_ship_stmt(False), True: _hold_and_ship_stmt(True)}


def _hold_and_ship(
    session: Session,
    conn: Connection,
    doc: Doc,
    ch: Change,
    hold: Hold,
    blocked: bool,
    links: list[dict[str, Any]],
) -> None:
    """Hold the free serials and ship them all: one UPDATE, one INSERT of the hold links
    and the shipment's links (in that order, as ``hold_serials`` then the shipment)."""
    moved = set(
        conn.execute(
            _HOLD_AND_SHIP[blocked],
            {
                "ids": list(ch.serial_ids),
                "new": list(hold.serial_ids),
                "v": ch.variant_id,
                "loc": ch.location_id,
                "out": doc.serial_status_out,
                "ht": hold.holder_type,
                "hid": hold.holder_id,
                "when": doc.when,
            },
        ).scalars()
    )
    if len(moved) != len(set(ch.serial_ids)):
        # refused as the two steps would have been: the hold first, then the shipment
        _refuse_hold(session, [i for i in hold.serial_ids if i not in moved], hold)
        if blocked:
            holds.check_not_on_hold(session, [ch.batch_id], ch.serial_ids)
        _refuse_serials(session, ch, -1)
    now = utcnow()
    held = [
        {
            "serial_id": sid,
            "movement_id": None,
            "resource_type": hold.holder_type,
            "resource_id": hold.holder_id,
            "quantity_change": 0,
            "reason": "hold",
            "user": hold.user,
            "transaction_date": now,
        }
        for sid in hold.serial_ids
    ]
    conn.execute(_LINK, held + links)


def _check_free(session: Session, ch: Change, hold: Hold) -> None:
    """Before a hold-and-ship takes stock: refuse serials the hold could not take."""
    free = {
        s.id
        for s in session.execute(
            select(Serial.id).where(
                Serial.id.in_(list(hold.serial_ids)),
                Serial.status == "in_stock",
                Serial.holder_type.is_(None),
                Serial.location_id == ch.location_id,
                Serial.hold_reason.is_(None),
            )
        )
    }
    _refuse_hold(session, [i for i in hold.serial_ids if i not in free], hold)


def _refuse_serials(session: Session, ch: Change, direction: int) -> None:
    rows = session.execute(
        select(Serial.serial_number, Serial.status, Serial.location_id, Serial.variant_id).where(
            Serial.id.in_(list(ch.serial_ids))
        )
    ).all()
    if direction < 0:
        bad = [
            r
            for r in rows
            if r.status not in ON_HAND
            or r.location_id != ch.location_id
            or r.variant_id != ch.variant_id
        ]
        code, why = errors.NOT_IN_STOCK, "is not in stock at this location"
    else:
        bad = [r for r in rows if r.status in ON_HAND or r.variant_id != ch.variant_id]
        code, why = errors.DUPLICATE, "is already in stock"
    if len(rows) < len(set(ch.serial_ids)):
        raise errors.refuse(
            errors.MISSING, "A serial number id does not exist.", path="serial_numbers"
        )
    details = [
        errors.Detail(
            "serial_numbers",
            code,
            f"Serial number '{r.serial_number}' {why} (status {r.status}).",
            {"serial_number": r.serial_number},
        )
        for r in bad[:50]
    ]
    if not details:  # a serial named twice in one change
        details = [
            errors.Detail(
                "serial_numbers", errors.DUPLICATE, "A serial number is named more than once."
            )
        ]
    raise errors.refuse_many(details)


def _describe(session: Session, ch: Change) -> str:
    sku = session.scalar(select(Variant.sku).where(Variant.id == ch.variant_id))
    loc = session.scalar(select(Location.name).where(Location.id == ch.location_id))
    batch = (
        session.scalar(select(Batch.batch_number).where(Batch.id == ch.batch_id))
        if ch.batch_id
        else None
    )
    where = f" in batch {batch}" if batch else ""
    return f"variant {sku or ch.variant_id}{where} at {loc or ch.location_id}"


def _fmt(q: Decimal) -> str:
    return format(q.normalize(), "f") if isinstance(q, Decimal) else str(q)


def hold_serials(
    session: Session,
    serial_ids: Sequence[int],
    holder_type: str,
    holder_id: int,
    location_id: int,
    user: str,
) -> None:
    """Reserve in-stock, unheld serials for a document row; all or none (conditional)."""
    if not serial_ids:
        return
    changed = (
        connection(session)
        .execute(
            _HOLD,
            {
                "ids": list(serial_ids),
                "loc": location_id,
                "ht": holder_type,
                "hid": holder_id,
                "when": utcnow(),
            },
        )
        .rowcount
    )
    if changed != len(set(serial_ids)):
        rows = session.execute(select(Serial).where(Serial.id.in_(list(serial_ids)))).scalars()
        bad = [
            s
            for s in rows
            if not (
                s.status == "reserved" and s.holder_type == holder_type and s.holder_id == holder_id
            )
        ]
        _refuse_held(bad)
    link(session, serial_ids, holder_type, holder_id, reason="hold", user=user)


def _refuse_held(bad: list[Serial]) -> None:
    """``hold_serials``' refusal: each serial it could not take, and why."""
    details = [
        errors.Detail(
            "serial_numbers",
            errors.ON_HOLD if s.hold_reason else errors.NOT_IN_STOCK,
            f"Serial number '{s.serial_number}' is on hold ({s.hold_reason})."
            if s.hold_reason
            else f"Serial number '{s.serial_number}' is not free to take here "
            f"(status {s.status}"
            + (f", held by {s.holder_type} {s.holder_id}" if s.holder_type else "")
            + ").",
            {"serial_number": s.serial_number},
        )
        for s in bad
    ]
    raise errors.refuse_many(
        details
        or [errors.Detail("serial_numbers", errors.MISSING, "A serial number id does not exist.")]
    )


def _refuse_hold(session: Session, failed: list[int], hold: Hold) -> None:
    """Refuse as ``hold_serials`` would for the serials of ``hold`` it could not take."""
    if not failed:
        return
    wanted = set(failed)
    rows = session.execute(select(Serial).where(Serial.id.in_(list(hold.serial_ids)))).scalars()
    _refuse_held([s for s in rows if s.id in wanted])


def link(
    session: Session,
    serial_ids: Sequence[int],
    resource_type: str,
    resource_id: int,
    *,
    reason: str,
    user: str,
) -> None:
    """Zero-quantity links (holds, mintings) of serials to a document row, one INSERT."""
    if not serial_ids:
        return
    now = utcnow()
    connection(session).execute(
        _LINK,
        [
            {
                "serial_id": sid,
                "resource_type": resource_type,
                "resource_id": resource_id,
                "quantity_change": 0,
                "reason": reason,
                "user": user,
                "transaction_date": now,
                "is_active": True,
            }
            for sid in serial_ids
        ],
    )


def release_serials(
    session: Session, serial_ids: Sequence[int], holder_type: str, holder_id: int
) -> None:
    """Undo holds of a document row: reserved serials go back to plain stock."""
    if not serial_ids:
        return
    session.execute(
        update(Serial)
        .where(
            Serial.id.in_(list(serial_ids)),
            Serial.holder_type == holder_type,
            Serial.holder_id == holder_id,
        )
        .values(
            holder_type=None,
            holder_id=None,
            status=case((Serial.status == "reserved", "in_stock"), else_=Serial.status),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(SerialTransaction)
        .where(
            SerialTransaction.serial_id.in_(list(serial_ids)),
            SerialTransaction.resource_type == holder_type,
            SerialTransaction.resource_id == holder_id,
            SerialTransaction.quantity_change == 0,
        )
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )

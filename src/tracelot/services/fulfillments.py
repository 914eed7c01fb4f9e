"""Packing and delivering sales orders, and reverting them with new movements.

PACKED and DELIVERED fulfilments both take stock out (reason ``delivery``,
resource ``SalesOrderFulfillmentRow``). A serial row ships the serials named
(held by this row: confirmed; free: assigned now; held elsewhere: refused),
else the row's held, unshipped serials; fewer serials than the quantity is
allowed and counted in ``missing_serial_numbers``: the full quantity leaves
stock (stock levels stay true), and serials named later join the fulfilment
without moving quantity again. A
batch row ships the batches named, else its picks, else first-expired-first-out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import (
    BatchPick,
    Movement,
    OrderImport,
    SalesOrder,
    SalesOrderFulfillment,
    SalesOrderFulfillmentRow,
    SalesOrderRow,
    Serial,
    SerialTransaction,
    Variant,
)
from tracelot.db.sql import CHUNK, table
from tracelot.domain import errors
from tracelot.domain import sales as rules
from tracelot.services import batches, holds, ledger, picking, sales, serials, webhooks
from tracelot.services.common import apply, get

HEADER_FIELDS = {
    "picked_date",
    "tracking_number",
    "tracking_url",
    "tracking_carrier",
    "tracking_method",
}


@dataclass
class ShippedRow:
    """A fulfilment row as written: what left stock on it."""

    id: int
    sales_order_row_id: int
    quantity: Decimal
    serial_ids: list[int] = field(default_factory=list)
    batches: list[tuple[int, Decimal]] = field(default_factory=list)


@dataclass
class Shipped:
    fulfillment: SalesOrderFulfillment
    rows: list[ShippedRow]


def create(
    session: Session, data: dict[str, Any], actor: str, *, emit: bool = True
) -> SalesOrderFulfillment:
    """Pack or deliver rows; ``emit=False`` when the caller sends the order's one event."""
    return create_shipped(session, data, actor, emit=emit).fulfillment


_f, _fr = table(SalesOrderFulfillment), table(SalesOrderFulfillmentRow)
_F_COLUMNS = [c.name for c in _f.c if c.name != "id"]
_INSERT_F = insert(_f).returning(_f.c.id)
_INSERT_FROW = insert(_fr).returning(_fr.c.id)
_HELD_SERIALS = (
    select(table(Serial).c.id)
    .where(
        table(Serial).c.holder_type == sales.ROW,
        table(Serial).c.holder_id == bindparam("row"),
        table(Serial).c.status == "reserved",
    )
    .order_by(table(Serial).c.serial_number)
    .limit(bindparam("n"))
)
_INSERT_PICKS = insert(table(BatchPick))


def create_shipped(
    session: Session, data: dict[str, Any], actor: str, *, emit: bool = True
) -> Shipped:
    """``create``, handing back what each new row shipped (serials, batches).

    The order, its rows and their shipped/held/picked facts are one read; each
    write is a Core statement built once; the order's cache is refreshed once.
    """
    state = sales.order_state(session, data.get("sales_order_id"))
    order = state.order
    status = data.get("status") or "DELIVERED"
    if status not in rules.FULFILMENT_STATUSES:
        raise errors.refuse(
            errors.VALIDATION_FAILED, "A fulfilment is PACKED or DELIVERED.", path="status"
        )
    rows = data.get("sales_order_fulfillment_rows") or []
    if not rows:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Name the rows to ship in sales_order_fulfillment_rows.",
            path="sales_order_fulfillment_rows",
        )
    now = utcnow()
    values: dict[str, Any] = {
        **dict.fromkeys(_F_COLUMNS),
        **{k: v for k, v in data.items() if v is not None and k in HEADER_FIELDS},
        "sales_order_id": order.id,
        "status": status,
        "delivered_date": now if status == "DELIVERED" else None,
        "created_at": now,
        "updated_at": now,
    }
    values["picked_date"] = values["picked_date"] or now
    conn = ledger.connection(session)
    values["id"] = conn.execute(_INSERT_F, values).scalar_one()
    f = sales.attach(session, SalesOrderFulfillment, values)
    seen: set[int] = set()
    shipped = [
        _ship_row(
            session,
            state,
            f,
            r,
            f"sales_order_fulfillment_rows[{i}]",
            actor,
            seen,
            bool(data.get("allow_expired")),
        )
        for i, r in enumerate(rows)
    ]
    state.write(session)  # the facts were kept up to date with what was shipped
    if emit:
        webhooks.emit(
            session, f"sales_order.{status.lower()}", "sales_order", order.id, order.status
        )
    sales.keep(session, f)
    return Shipped(f, shipped)


def _ship_row(
    session: Session,
    state: sales.OrderState,
    f: SalesOrderFulfillment,
    r: dict[str, Any],
    path: str,
    actor: str,
    seen: set[int],
    allow_expired: bool,
) -> ShippedRow:
    order = state.order
    rid = _int(r.get("sales_order_row_id"))
    rs = state.rows.get(rid)
    if rs is None:  # refuses: no such row, or not a live row of this order
        row = get(session, SalesOrderRow, rid, "Sales order row", path=f"{path}.sales_order_row_id")
    else:
        row = rs.row
    if rs is None or row.id in seen:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Row {row.id} is not a row of sales order {order.order_no} (or is named twice).",
            path=f"{path}.sales_order_row_id",
        )
    seen.add(row.id)
    ship = rs.shipping
    qty = (
        Decimal(str(r["quantity"]))
        if r.get("quantity") is not None
        else row.quantity - ship.shipped
    )
    rules.check_ship(ship, qty, f"{path}.quantity")
    conn = ledger.connection(session)
    frow = ShippedRow(
        conn.execute(
            _INSERT_FROW,
            {"fulfillment_id": f.id, "sales_order_row_id": row.id, "quantity": qty},
        ).scalar_one(),
        row.id,
        qty,
    )
    if rs.tracking == "serial":
        _ship_serials(session, order, rs, frow, r, path, actor)
    elif rs.tracking == "batch":
        _ship_batches(session, order, rs, frow, r, path, actor, allow_expired)
    else:
        ledger.post(
            session,
            sales.delivery_doc(order, frow.id, actor),
            [ledger.Change(row.variant_id, row.location_id or order.location_id, -qty)],
        )
    if f.status == "PACKED":  # the row's facts, kept up to date (OrderState.write)
        rs.packed += qty
    else:
        rs.delivered += qty
    return frow


def _ship_serials(
    session: Session,
    order: SalesOrder,
    rs: sales.RowState,
    frow: ShippedRow,
    r: dict[str, Any],
    path: str,
    actor: str,
) -> None:
    row = rs.row
    if frow.quantity != frow.quantity.to_integral_value():
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Serial-tracked items ship whole units.",
            path=f"{path}.quantity",
        )
    spath = f"{path}.serial_numbers"
    ids = [_int(i) for i in r.get("serial_numbers") or []]
    ids += [
        _int(t["serial_number_id"])
        for t in r.get("traceability") or []
        if t.get("serial_number_id")
    ]
    read = None  # the serials' state, when reading them by number gave it already
    new: list[int] = []
    if r.get("serial_number_strings"):
        numbers = serials.expand_entries(r["serial_number_strings"])
        if ids or len(numbers) > CHUNK:
            ids += serials.find(session, rs.item_id, numbers, spath)
        else:
            read = (
                ledger.connection(session)
                .execute(sales.SERIALS_BY_NUMBER, {"item": rs.item_id, "numbers": numbers})
                .all()
            )
            by_number = {s.serial_number: s.id for s in read}
            if any(n not in by_number for n in numbers):
                serials.find(session, rs.item_id, numbers, spath)  # refuses, naming them
            ids = [by_number[n] for n in numbers]
    ids = list(dict.fromkeys(ids))
    if len(ids) > frow.quantity:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"{len(ids)} serial numbers for "
            f"{int(frow.quantity)} unit(s): send at most {int(frow.quantity)}.",
            path=spath,
        )
    if ids:
        found = sales._check_of_variant(session, row.variant_id, ids, spath, read)
        found_rows = list(found.values())
        mine = {s.id for s in found_rows if s.holder_type == sales.ROW and s.holder_id == row.id}
        shipped = [s for s in found_rows if s.id in mine and s.status != "reserved"]
        if shipped:
            raise errors.refuse(
                errors.NOT_IN_STOCK,
                f"Serial number '{shipped[0].serial_number}'"
                " has already been shipped on this order.",
                path=spath,
            )
        free = [i for i in ids if i not in mine]
        if free:  # checked now, held by the shipment below (one UPDATE for both)
            new = sales.assign_serials(
                session,
                row,
                free,
                actor,
                path=spath,
                join=False,
                while_shipping=True,
                known=found,
                held_now=int(rs.held),
            )
            rs.held += len(new)
    else:
        ids = list(
            ledger.connection(session)
            .execute(_HELD_SERIALS, {"row": row.id, "n": int(frow.quantity)})
            .scalars()
        )
    sales.ship_serials(session, order, row, frow.id, ids, actor, units=frow.quantity, hold=new)
    frow.serial_ids = ids
    rs.shipped_serials += len(ids)


def _ship_batches(
    session: Session,
    order: SalesOrder,
    rs: sales.RowState,
    frow: ShippedRow,
    r: dict[str, Any],
    path: str,
    actor: str,
    allow_expired: bool,
) -> None:
    row = rs.row
    traced = [t for t in r.get("traceability") or [] if t.get("batch_id")]
    key = "traceability" if traced else "batch_transactions"
    named = traced or r.get("batch_transactions") or []
    bpath = f"{path}.{key}"
    loc = row.location_id or order.location_id
    alloc: dict[int, Decimal] = defaultdict(Decimal)
    if named:
        alloc.update(_named_batches(session, row, named, bpath, allow_expired))
        sales._check_free(session, row, alloc, bpath, leaving_now=True)
        unchecked: list[int] = []  # each named batch was refused already if on hold
    else:
        # the row's picks (none unless it picked some), then first-expired-first-out
        alloc.update(_from_picks(session, row, frow.quantity) if rs.picked else {})
        unchecked = list(alloc)  # picked before a hold was put on the batch, maybe
        left = frow.quantity - sum(alloc.values(), Decimal(0))
        if left > 0:
            taken = dict(alloc)

            def held(batch_ids: list[int]) -> dict[int, Decimal]:
                out = sales.batches_held_elsewhere(
                    session, row.variant_id, loc, row.id, batch_ids=batch_ids
                )
                for bid, q in taken.items():
                    out[bid] = out.get(bid, Decimal(0)) + q
                return out

            proposal = picking.propose_batches(session, row.variant_id, loc, left, held=held)
            for p in proposal.picks:  # never a held batch: the proposal leaves them out
                alloc[p.batch_id] += p.quantity
    total = sum(alloc.values(), Decimal(0))
    if total != frow.quantity:
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"Batches cover {total} of the "
            f"{frow.quantity} to ship: name batches ({key}) that "
            "cover it, or receive stock first.",
            path=bpath,
        )
    if unchecked:
        holds.check_not_on_hold(session, unchecked, (), bpath)
    ledger.post(
        session,
        sales.delivery_doc(order, frow.id, actor),
        [ledger.Change(row.variant_id, loc, -q, bid) for bid, q in alloc.items() if q > 0],
    )
    frow.batches = [(bid, q) for bid, q in alloc.items() if q > 0]
    # what left beyond the row's picks becomes picks too (the row's batches stay known)
    picked: dict[int, Decimal] = (
        dict(
            session.execute(
                select(BatchPick.batch_id, BatchPick.quantity).where(
                    BatchPick.resource_type == sales.ROW, BatchPick.resource_id == row.id
                )
            ).all()  # type: ignore[arg-type]
        )
        if rs.picked
        else {}
    )
    # earlier live fulfilments of the row took some already?
    shipped = _shipped_batches(session, row) if rs.packed or rs.delivered else dict(frow.batches)
    new = []
    for bid in alloc:
        excess = shipped.get(bid, Decimal(0)) - picked.get(bid, Decimal(0))
        if excess <= 0:
            continue
        rs.picked += excess
        if bid in picked:
            sales.add_batch_pick(session, row, bid, excess)
        else:
            new.append(
                {
                    "resource_type": sales.ROW,
                    "resource_id": row.id,
                    "batch_id": bid,
                    "quantity": excess,
                }
            )
    if new:
        ledger.connection(session).execute(_INSERT_PICKS, new)


def _named_batches(
    session: Session,
    row: SalesOrderRow,
    named: list[dict[str, Any]],
    bpath: str,
    allow_expired: bool,
) -> dict[int, Decimal]:
    """The batches a fulfilment row names: each a batch of the row's variant, above 0."""
    alloc: dict[int, Decimal] = defaultdict(Decimal)
    for j, t in enumerate(named):
        tpath = f"{bpath}[{j}]"
        if t.get("batch_id") is None:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                "Each batch shipped names a batch_id: add it, or leave the batches out "
                "to ship the row's picks.",
                path=f"{tpath}.batch_id",
            )
        qty = Decimal(str(t.get("quantity") or 0))
        if qty <= 0:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                f"Quantity {qty} of a batch is not allowed: each batch shipped needs a "
                "quantity above 0 (leave out batches that ship nothing).",
                path=f"{tpath}.quantity",
            )
        b = batches.of_variant(session, _int(t["batch_id"]), row.variant_id, f"{tpath}.batch_id")
        sales.check_batch(b, allow_expired, f"{tpath}.batch_id")
        alloc[b.id] += qty
    return alloc


def _from_picks(session: Session, row: SalesOrderRow, qty: Decimal) -> dict[int, Decimal]:
    """The row's batch picks not shipped yet, in pick order, up to ``qty``."""
    shipped = _shipped_batches(session, row)
    out: dict[int, Decimal] = {}
    for p in session.scalars(
        select(BatchPick)
        .where(BatchPick.resource_type == sales.ROW, BatchPick.resource_id == row.id)
        .order_by(BatchPick.id)
    ):
        free = p.quantity - shipped.get(p.batch_id, Decimal(0))  # type: ignore[arg-type]
        take = min(free, qty - sum(out.values(), Decimal(0)))
        if take > 0 and p.batch_id:
            out[p.batch_id] = take
    return out


def _shipped_batches(session: Session, row: SalesOrderRow) -> dict[int, Decimal]:
    """Net quantity per batch the row's live fulfilment rows have taken out."""
    frows = (
        select(SalesOrderFulfillmentRow.id)
        .join(
            SalesOrderFulfillment,
            SalesOrderFulfillment.id == SalesOrderFulfillmentRow.fulfillment_id,
        )
        .where(
            SalesOrderFulfillmentRow.sales_order_row_id == row.id,
            SalesOrderFulfillment.deleted_at.is_(None),
        )
    )
    return {
        int(bid or 0): -Decimal(q)
        for bid, q in session.execute(
            select(Movement.batch_id, func.sum(Movement.quantity))
            .where(
                Movement.resource_type == sales.FROW,
                Movement.resource_id.in_(frows),
                Movement.batch_id.is_not(None),
            )
            .group_by(Movement.batch_id)
        ).all()
    }


def _int(value: Any) -> int:
    """Katana types some ids as numbers: accept 12.0."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"'{value}' is not an id.", path="id"
        ) from None


# --- changing and reverting ----------------------------------------------------------------------


def update_fulfillment(
    session: Session, f: SalesOrderFulfillment, data: dict[str, Any], actor: str
) -> SalesOrderFulfillment:
    """Header fields; PACKED -> DELIVERED delivers, DELIVERED -> PACKED steps back.

    Delivering sends ``sales_order.delivered``; stepping back is a revert and
    sends ``sales_order.updated`` (not for imported orders: reverts are local).
    A status sent unchanged sends nothing.
    """
    order = session.get(SalesOrder, f.sales_order_id)
    assert order is not None
    apply(f, data, HEADER_FIELDS)
    status = data.get("status")
    changed = bool(status) and status != f.status
    if changed:
        if status not in rules.FULFILMENT_STATUSES:
            raise errors.refuse(
                errors.VALIDATION_FAILED, "status is PACKED or DELIVERED.", path="status"
            )
        f.status = status
        f.delivered_date = utcnow() if status == "DELIVERED" else None
        if status == "PACKED":
            mark_local_revert(session, order)
    f.updated_at = utcnow()
    session.flush()
    sales.refresh(session, order)
    if changed and status == "DELIVERED":
        webhooks.emit(session, "sales_order.delivered", "sales_order", order.id, order.status)
    elif changed:
        _emit_revert(session, order)
    return f


def _emit_revert(session: Session, order: SalesOrder) -> None:
    """One ``sales_order.updated`` per revert; none for imported orders (reverts are local)."""
    if not _imported(session, order):
        webhooks.emit(session, "sales_order.updated", "sales_order", order.id, order.status)


def delete_fulfillment(
    session: Session, f: SalesOrderFulfillment, actor: str, *, emit: bool = True
) -> None:
    """The full revert: units, batches and serials return with new movements (``revert``)."""
    order = session.get(SalesOrder, f.sales_order_id)
    assert order is not None
    frow_ids = list(
        session.scalars(
            select(SalesOrderFulfillmentRow.id).where(
                SalesOrderFulfillmentRow.fulfillment_id == f.id
            )
        )
    )
    nets = session.execute(
        select(
            Movement.resource_id,
            Movement.variant_id,
            Movement.location_id,
            Movement.batch_id,
            func.sum(Movement.quantity).label("q"),
        )
        .where(Movement.resource_type == sales.FROW, Movement.resource_id.in_(frow_ids))
        .group_by(
            Movement.resource_id, Movement.variant_id, Movement.location_id, Movement.batch_id
        )
    ).all()
    out_serials = _shipped_serials(session, frow_ids)
    for n in nets:
        if n.q == 0:
            continue
        ids = out_serials.get(n.resource_id, []) if n.batch_id is None else []
        ledger.post(
            session,
            sales.delivery_doc(order, n.resource_id, actor, "revert"),
            [ledger.Change(n.variant_id, n.location_id, -Decimal(n.q), n.batch_id, ids)],
        )
    session.execute(
        update(SerialTransaction)
        .where(
            SerialTransaction.resource_type == sales.FROW,
            SerialTransaction.resource_id.in_(frow_ids),
        )
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )
    f.deleted_at = utcnow()
    session.flush()
    mark_local_revert(session, order)
    sales.refresh(session, order)
    if emit:
        _emit_revert(session, order)


def _shipped_serials(session: Session, frow_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for frid, sid in session.execute(
        select(SerialTransaction.resource_id, SerialTransaction.serial_id)
        .where(
            SerialTransaction.resource_type == sales.FROW,
            SerialTransaction.resource_id.in_(frow_ids),
            SerialTransaction.is_active.is_(True),
        )
        .group_by(SerialTransaction.resource_id, SerialTransaction.serial_id)
        .having(func.sum(SerialTransaction.quantity_change) < 0)
    ):
        out[frid].append(sid)
    return out


def _imported(session: Session, order: SalesOrder) -> bool:
    return (
        bool(order.ecommerce_order_id)
        or (session.scalar(select(func.count()).where(OrderImport.sales_order_id == order.id)) or 0)
        > 0
    )


def mark_local_revert(session: Session, order: SalesOrder) -> None:
    """An imported order changed here: the store was not told (and never will be by us)."""
    if _imported(session, order):
        order.store_sync = "local_only"
        order.store_sync_note = (
            f"Reverted locally on {utcnow():%Y-%m-%d %H:%M} UTC; the "
            "store still shows its own status."
        )


def revert(
    session: Session,
    order: SalesOrder,
    actor: str,
    to_status: str = "NOT_SHIPPED",
    *,
    emit: bool = True,
) -> SalesOrder:
    """Step the order back: to PACKED (deliveries become packings) or NOT_SHIPPED (all undone).

    One ``sales_order.updated`` for the whole revert (``_emit_revert``).
    """
    live = sales._live_fulfilments(session, order.id)
    if not live:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Sales order {order.order_no} has nothing to revert: it is not packed or delivered.",
            path="id",
        )
    if to_status == "PACKED":
        for f in live:
            if f.status == "DELIVERED":
                f.status, f.delivered_date, f.updated_at = "PACKED", None, utcnow()
        session.flush()
        mark_local_revert(session, order)
        sales.refresh(session, order)
    elif to_status == "NOT_SHIPPED":
        for f in reversed(live):
            delete_fulfillment(session, f, actor, emit=False)
    else:
        raise errors.refuse(
            errors.VALIDATION_FAILED, "Revert to PACKED or NOT_SHIPPED.", path="status"
        )
    if emit:
        _emit_revert(session, order)
    return order


def deliver(session: Session, order: SalesOrder, actor: str) -> SalesOrder:
    """Deliver everything: PACKED fulfilments become DELIVERED, the rest ships now.

    One ``sales_order.delivered`` when anything was delivered; none when nothing was left.
    """
    delivered = False
    for f in sales._live_fulfilments(session, order.id):
        if f.status == "PACKED":
            f.status, f.delivered_date, f.updated_at = "DELIVERED", utcnow(), utcnow()
            delivered = True
    session.flush()
    rows = sales.live_rows(session, order.id)
    ship = sales.shipping(session, rows)
    left = [
        {"sales_order_row_id": r.id, "quantity": r.quantity - ship[r.id].shipped}
        for r in rows
        if r.quantity > ship[r.id].shipped
    ]
    if left:
        create(
            session,
            {
                "sales_order_id": order.id,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": left,
            },
            actor,
            emit=False,
        )
        delivered = True
    sales.refresh(session, order)
    if delivered:
        webhooks.emit(session, "sales_order.delivered", "sales_order", order.id, order.status)
    return order


def revert_assign_deliver(
    session: Session, order: SalesOrder, rows: list[dict[str, Any]], actor: str
) -> SalesOrder:
    """The warning's one confirmed step: revert to PACKED, assign, deliver again.

    Nobody sees the order in between: only the final ``sales_order.delivered`` is sent.
    """
    revert(session, order, actor, "PACKED", emit=False)
    for i, r in enumerate(rows):
        path = f"rows[{i}]"
        row = get(
            session,
            SalesOrderRow,
            _int(r.get("sales_order_row_id")),
            "Sales order row",
            path=f"{path}.sales_order_row_id",
        )
        if row.sales_order_id != order.id:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                f"Row {row.id} is not a row of order {order.order_no}.",
                path=f"{path}.sales_order_row_id",
            )
        ids = [_int(i) for i in r.get("serial_numbers") or []]
        if r.get("serial_number_strings"):
            variant = session.get(Variant, row.variant_id)
            ids += serials.find(
                session,
                variant.item_id,  # type: ignore[union-attr]
                serials.expand_entries(r["serial_number_strings"]),
                f"{path}.serial_number_strings",
            )
        if ids:
            sales.assign_serials(session, row, ids, actor, path=f"{path}.serial_numbers")
        if r.get("batch_transactions"):
            sales.set_batch_picks(
                session, row, r["batch_transactions"], actor, path=f"{path}.batch_transactions"
            )
    return deliver(session, order, actor)

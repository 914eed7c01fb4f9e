"""Sales orders and rows: creating them, assigning serials and batches, tracing state.

Assigning a serial is a conditional, set-based hold (``ledger.hold_serials``):
two orders can never hold the same serial, even with several server processes.
A row keeps holding its serials through packing and delivery; units leave
stock only through fulfilments (``services.fulfillments``), and serials
assigned after a PACKED fulfilment join it at once.

Also the make-to-order contract the manufacturing capability calls:
``link_manufacturing_order``, ``unlink_manufacturing_order``,
``assign_production_output`` and ``release_production_output``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import (
    Batch,
    BatchPick,
    Customer,
    Location,
    Movement,
    OrderImport,
    SalesOrder,
    SalesOrderFulfillment,
    SalesOrderFulfillmentRow,
    SalesOrderRow,
    Serial,
    SerialTransaction,
    Stock,
    Variant,
)
from tracelot.domain import errors
from tracelot.domain import picking as pick_rules
from tracelot.domain import sales as rules
from tracelot.services import batches, ledger, serials, webhooks
from tracelot.services.common import apply, get, primary_location

ROW = "SalesOrderRow"
FROW = "SalesOrderFulfillmentRow"
HEADER_FIELDS = {
    "order_no",
    "delivery_date",
    "customer_ref",
    "additional_info",
    "currency",
    "ecommerce_order_type",
    "ecommerce_store_name",
    "ecommerce_order_id",
    "location_id",
    "customer_id",
}
ROW_FIELDS = {"price_per_unit"}


# --- orders and rows ---------------------------------------------------------------------


def create_order(session: Session, data: dict[str, Any], actor: str) -> SalesOrder:
    """One order with its rows, all or nothing."""
    _check_customer(session, data.get("customer_id"))
    loc = (
        get(session, Location, data["location_id"], "Location", path="location_id")
        if data.get("location_id")
        else primary_location(session)
    )
    rows = data.get("sales_order_rows") or []
    if not rows:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "A sales order needs at least one row.",
            path="sales_order_rows",
        )
    status = data.get("status") or "NOT_SHIPPED"
    if status not in rules.OPEN_STATUSES:
        raise errors.refuse(
            errors.STATUS_FROM_FULFILLMENTS,
            f"A new order is NOT_SHIPPED or "
            f"PENDING, not {status}: create fulfilments to pack or deliver it.",
            path="status",
        )
    order = SalesOrder(
        customer_id=int(data["customer_id"]),
        location_id=loc.id,
        order_no="",
        status=status,
        order_created_date=data.get("order_created_date") or utcnow(),
    )
    apply(
        order,
        {k: v for k, v in data.items() if v is not None and k != "location_id"},
        HEADER_FIELDS,
    )
    if order.ecommerce_order_id is not None:  # Katana sends it as a string or a number
        order.ecommerce_order_id = str(order.ecommerce_order_id)
    session.add(order)
    session.flush()
    order.order_no = order.order_no or f"SO-{order.id}"
    facts = [
        RowFacts(row, variant_of(session, row.variant_id).item.tracking)
        for row in (
            add_row(session, order, r, f"sales_order_rows[{i}]") for i, r in enumerate(rows)
        )
    ]
    if data.get("ecommerce_order_id") and not data.get("_imported"):
        register_import(
            session,
            data.get("ecommerce_order_type") or "api",
            str(data["ecommerce_order_id"]),
            None,
            order.id,
        )
    apply_tracing(order, facts)  # a new order holds and ships nothing: no query needed
    keep(session, order, *(f.row for f in facts))
    webhooks.emit(session, "sales_order.created", "sales_order", order.id, order.status)
    return order


def _check_customer(session: Session, customer_id: Any) -> None:
    """The customer exists (one narrow read: its addresses are not needed here)."""
    ok = customer_id is not None and session.scalar(
        select(Customer.id).where(Customer.id == int(customer_id), Customer.deleted_at.is_(None))
    )
    if not ok:
        get(session, Customer, customer_id, "Customer", path="customer_id")  # refuses


class AlreadyImported(errors.TracelotError):
    """The store order was recorded before, or by a concurrent request just now."""

    def __init__(self, channel: str, external_id: str, sales_order_id: int) -> None:
        message = (
            f"Store order {external_id} from {channel} was already imported "
            f"(sales order {sales_order_id}): change that order instead of creating it again."
        )
        super().__init__(
            errors.DUPLICATE,
            message,
            [
                errors.Detail(
                    "ecommerce_order_id",
                    errors.DUPLICATE,
                    message,
                    {"sales_order_id": sales_order_id},
                )
            ],
        )
        self.sales_order_id = sales_order_id


def imported_order_id(session: Session, channel: str, external_id: str) -> int | None:
    return session.scalar(
        select(OrderImport.sales_order_id).where(
            OrderImport.channel == channel, OrderImport.external_id == external_id
        )
    )


def register_import(
    session: Session, channel: str, external_id: str, name: str | None, order_id: int
) -> None:
    """Remember a store order once, else raise ``AlreadyImported``.

    The unique (channel, id) backs the read under concurrency: a request that
    loses the race gets the constraint's error inside a SAVEPOINT (so its
    transaction lives on), reads the winner's record and refuses the same way.
    """
    existing = imported_order_id(session, channel, external_id)
    if existing is not None:
        raise AlreadyImported(channel, external_id, existing)
    try:
        with session.begin_nested():
            session.add(
                OrderImport(
                    channel=channel,
                    external_id=external_id,
                    external_name=name,
                    sales_order_id=order_id,
                )
            )
            session.flush()
    except IntegrityError:
        existing = imported_order_id(session, channel, external_id)
        if existing is None:
            raise
        raise AlreadyImported(channel, external_id, existing) from None


def add_row(
    session: Session, order: SalesOrder, r: dict[str, Any], path: str = ""
) -> SalesOrderRow:
    pre = f"{path}." if path else ""
    _check_rows_can_be_added(order)
    variant = variant_of(session, r.get("variant_id"), f"{pre}variant_id")
    qty = rules.check_quantity(
        Decimal(str(r.get("quantity", 0))), variant.item.tracking, f"{pre}quantity"
    )
    fulfilment = r.get("fulfilment") or "stock"
    if fulfilment not in ("stock", "order"):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "fulfilment is 'stock' (make-to-stock) or 'order' (make-to-order).",
            path=f"{pre}fulfilment",
        )
    loc_id = r.get("location_id")
    if loc_id:
        get(session, Location, loc_id, "Location", path=f"{pre}location_id")
    row = SalesOrderRow(
        sales_order_id=order.id,
        variant_id=variant.id,
        quantity=qty,
        price_per_unit=r.get("price_per_unit"),
        location_id=loc_id,
        fulfilment=fulfilment,
    )
    session.add(row)
    session.flush()
    return row


def _check_rows_can_be_added(order: SalesOrder) -> None:
    """New rows only while nothing is packed or delivered (the cached status says so)."""
    if order.status in rules.OPEN_STATUSES:
        return
    revert = (
        f"revert it first (POST /sales_orders/{order.id}/revert) or put the items on a new order."
    )
    if order.status == "DELIVERED":
        raise errors.refuse(
            errors.ORDER_DELIVERED,
            f"Sales order {order.order_no} is delivered: no rows can be added; {revert}",
            path="sales_order_id",
        )
    raise errors.refuse(
        errors.IN_USE,
        f"Sales order {order.order_no} is {order.status}: rows cannot be added once "
        f"anything is packed or delivered; {revert}",
        path="sales_order_id",
    )


def update_order(session: Session, order: SalesOrder, data: dict[str, Any]) -> SalesOrder:
    """Header only; status moves only between NOT_SHIPPED and PENDING."""
    if "status" in data and data["status"] != order.status:
        if data["status"] not in rules.OPEN_STATUSES or order.status not in rules.OPEN_STATUSES:
            raise errors.refuse(
                errors.STATUS_FROM_FULFILLMENTS,
                "The status follows the "
                "fulfilments: create, change or delete fulfilments (or revert "
                "the order) instead.",
                path="status",
            )
        order.status = data["status"]
    if data.get("location_id") and data["location_id"] != order.location_id:
        if _live_fulfilments(session, order.id):
            raise errors.refuse(
                errors.IN_USE,
                "The order has fulfilments: revert it before changing its location.",
                path="location_id",
            )
        get(session, Location, data["location_id"], "Location", path="location_id")
    if data.get("customer_id"):
        get(session, Customer, data["customer_id"], "Customer", path="customer_id")
    apply(order, {k: v for k, v in data.items() if k != "status"}, HEADER_FIELDS)
    order.updated_at = utcnow()
    webhooks.emit(session, "sales_order.updated", "sales_order", order.id, order.status)
    return order


def delete_order(session: Session, order: SalesOrder, actor: str) -> None:
    """Only without fulfilments; held serials and batch picks are released."""
    if _live_fulfilments(session, order.id):
        raise errors.refuse(
            errors.IN_USE,
            f"Sales order {order.order_no} has fulfilments: "
            "revert it (or delete its fulfilments) first.",
            path="id",
        )
    for row in live_rows(session, order.id):
        _release_row(session, row)
        row.deleted_at = utcnow()
    order.deleted_at = utcnow()
    webhooks.emit(session, "sales_order.deleted", "sales_order", order.id, order.status)


def update_row(
    session: Session, row: SalesOrderRow, data: dict[str, Any], actor: str
) -> SalesOrderRow:
    """PATCH a row: price, quantity, location, serial and batch assignment."""
    order = session.get(SalesOrder, row.sales_order_id)
    assert order is not None
    ship = shipping(session, [row])[row.id]
    rules.check_open(ship, order.order_no, path="id")
    variant = session.get(Variant, row.variant_id)
    assert variant is not None
    if "quantity" in data and data["quantity"] is not None:
        qty = rules.check_quantity(
            Decimal(str(data["quantity"])), variant.item.tracking, "quantity"
        )
        if qty < ship.shipped or qty < _assigned(session, row, variant.item.tracking):
            raise errors.refuse(
                errors.QUANTITY_EXCEEDED,
                f"The row has {ship.shipped} shipped "
                "and serials/batches assigned; release or revert those before "
                f"lowering the quantity to {qty}.",
                path="quantity",
            )
        row.quantity = qty
        if row.linked_manufacturing_order_id:
            from tracelot.services import manufacturing  # it imports this module

            manufacturing.sync_linked_quantity(session, row.linked_manufacturing_order_id, qty)
    if data.get("location_id"):
        if ship.shipped or _assigned(session, row, variant.item.tracking):
            raise errors.refuse(
                errors.IN_USE,
                "Release the row's serials and batches before moving it to another location.",
                path="location_id",
            )
        get(session, Location, data["location_id"], "Location", path="location_id")
        row.location_id = data["location_id"]
    if data.get("fulfilment") in ("stock", "order"):
        row.fulfilment = data["fulfilment"]
    apply(row, data, ROW_FIELDS)
    trace = data.get("traceability") or []
    serial_txs = data.get("serial_number_transactions")
    if serial_txs is None and any(t.get("serial_number_id") for t in trace):
        serial_txs = [
            {"serial_number_id": t["serial_number_id"], "quantity": 1}
            for t in trace
            if t.get("serial_number_id")
        ]
    batch_txs = data.get("batch_transactions")
    if batch_txs is None and any(t.get("batch_id") for t in trace):
        batch_txs = [t for t in trace if t.get("batch_id")]
    if serial_txs is not None:
        _apply_serial_txs(session, order, row, serial_txs, actor)
    if data.get("serial_numbers"):
        ids = serials.find(
            session,
            variant.item_id,
            serials.expand_entries(data["serial_numbers"]),
            "serial_numbers",
        )
        assign_serials(session, row, ids, actor)
    if batch_txs is not None:
        set_batch_picks(
            session, row, batch_txs, actor, allow_expired=bool(data.get("allow_expired"))
        )
    row.updated_at = utcnow()
    refresh(session, order)
    return row


def _apply_serial_txs(
    session: Session, order: SalesOrder, row: SalesOrderRow, txs: list[dict[str, Any]], actor: str
) -> None:
    add = [int(t["serial_number_id"]) for t in txs if int(t.get("quantity", 1)) == 1]
    drop = [int(t["serial_number_id"]) for t in txs if int(t.get("quantity", 1)) == 0]
    if drop:
        release_row_serials(session, row, drop, actor)
    if add:
        assign_serials(session, row, add, actor)


def delete_row(session: Session, row: SalesOrderRow) -> None:
    if shipping(session, [row])[row.id].shipped:
        raise errors.refuse(
            errors.IN_USE,
            "The row has been packed or delivered: revert its fulfilments first.",
            path="id",
        )
    _release_row(session, row)
    row.deleted_at = utcnow()
    order = session.get(SalesOrder, row.sales_order_id)
    if order is not None:
        refresh(session, order)


def _release_row(session: Session, row: SalesOrderRow) -> None:
    held = list(
        session.scalars(
            select(Serial.id).where(
                Serial.holder_type == ROW, Serial.holder_id == row.id, Serial.status == "reserved"
            )
        )
    )
    ledger.release_serials(session, held, ROW, row.id)
    session.execute(
        delete(BatchPick).where(BatchPick.resource_type == ROW, BatchPick.resource_id == row.id)
    )


# --- lookups ------------------------------------------------------------

_KEEP = "tracelot_sales_keep"


def keep(session: Session, *objs: Any) -> None:
    """Hold strong references for the session's life.

    The identity map is weak: a variant or order row no caller still holds is
    dropped, and the next ``session.get`` of it is a SELECT again (five per
    order before this).
    """
    session.info.setdefault(_KEEP, {}).update({(type(o), o.id): o for o in objs})


def variant_of(session: Session, variant_id: Any, path: str = "variant_id") -> Variant:
    """The variant with its item loaded, once per session."""
    held = session.info.get(_KEEP, {}).get((Variant, variant_id))
    if held is not None:
        return held  # type: ignore[no-any-return]
    variant = get(session, Variant, variant_id, "Variant", path=path)
    variant.item  # noqa: B018 - load it now, kept with the variant
    keep(session, variant)
    return variant


def live_rows(session: Session, order_id: int) -> list[SalesOrderRow]:
    return list(
        session.scalars(
            select(SalesOrderRow)
            .where(SalesOrderRow.sales_order_id == order_id, SalesOrderRow.deleted_at.is_(None))
            .order_by(SalesOrderRow.id)
        )
    )


def _live_fulfilments(session: Session, order_id: int) -> list[SalesOrderFulfillment]:
    return list(
        session.scalars(
            select(SalesOrderFulfillment)
            .where(
                SalesOrderFulfillment.sales_order_id == order_id,
                SalesOrderFulfillment.deleted_at.is_(None),
            )
            .order_by(SalesOrderFulfillment.id)
        )
    )


def row_location(session: Session, row: SalesOrderRow) -> int:
    if row.location_id:
        return row.location_id
    order = session.get(SalesOrder, row.sales_order_id)  # usually in the identity map
    assert order is not None
    return order.location_id


def shipping(session: Session, rows: list[SalesOrderRow]) -> dict[int, rules.RowShipping]:
    """Per row: quantity packed and delivered by live fulfilments (one query)."""
    got: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for rid, status, qty in session.execute(
        select(
            SalesOrderFulfillmentRow.sales_order_row_id,
            SalesOrderFulfillment.status,
            func.sum(SalesOrderFulfillmentRow.quantity),
        )
        .join(
            SalesOrderFulfillment,
            SalesOrderFulfillment.id == SalesOrderFulfillmentRow.fulfillment_id,
        )
        .where(
            SalesOrderFulfillmentRow.sales_order_row_id.in_([r.id for r in rows]),
            SalesOrderFulfillment.deleted_at.is_(None),
        )
        .group_by(SalesOrderFulfillmentRow.sales_order_row_id, SalesOrderFulfillment.status)
    ):
        got[rid][status] += Decimal(qty)
    return {
        r.id: rules.RowShipping(r.quantity, got[r.id]["PACKED"], got[r.id]["DELIVERED"])
        for r in rows
    }


def _assigned(session: Session, row: SalesOrderRow, tracking: str) -> Decimal:
    if tracking == "serial":
        return Decimal(
            session.scalar(
                select(func.count()).where(Serial.holder_type == ROW, Serial.holder_id == row.id)
            )
            or 0
        )
    if tracking == "batch":
        return Decimal(
            session.scalar(
                select(func.coalesce(func.sum(BatchPick.quantity), 0)).where(
                    BatchPick.resource_type == ROW, BatchPick.resource_id == row.id
                )
            )
            or 0
        )
    return Decimal(0)


def shipped_serial_counts(session: Session, row_ids: list[int]) -> dict[int, int]:
    """Per row: serials its live fulfilment rows have shipped."""
    return dict(
        session.execute(
            select(SalesOrderFulfillmentRow.sales_order_row_id, func.count())
            .join(
                SerialTransaction,
                (SerialTransaction.resource_type == FROW)
                & (SerialTransaction.resource_id == SalesOrderFulfillmentRow.id),
            )
            .where(
                SalesOrderFulfillmentRow.sales_order_row_id.in_(row_ids),
                SerialTransaction.is_active.is_(True),
                SerialTransaction.quantity_change == -1,
            )
            .group_by(SalesOrderFulfillmentRow.sales_order_row_id)
        ).all()
    )  # type: ignore[arg-type]


def refresh(session: Session, order: SalesOrder) -> None:
    """Recompute the cached status, tracing status and missing counts (one query).

    Called once at the end of each use case: rows, tracking mode, held serials,
    batch picks, shipped quantities and shipped serials come from one SELECT
    with correlated aggregates, each served by an index.
    """
    with session.no_autoflush:
        found = session.execute(_refresh_query(order.id)).all()
    facts = [
        RowFacts(
            f[0],
            f.tracking,
            Decimal(f.held or 0),
            Decimal(f.picked or 0),
            Decimal(f.packed or 0),
            Decimal(f.delivered or 0),
            int(f.shipped_serials or 0),
        )
        for f in found
    ]
    apply_tracing(order, facts)
    session.flush()


@dataclass
class RowFacts:
    """What a row's tracing status is computed from."""

    row: SalesOrderRow
    tracking: str
    held: Decimal = Decimal(0)
    picked: Decimal = Decimal(0)
    packed: Decimal = Decimal(0)
    delivered: Decimal = Decimal(0)
    shipped_serials: int = 0


def apply_tracing(order: SalesOrder, facts: list[RowFacts]) -> None:
    """Set rows' and the order's cached status from the facts (no queries)."""
    ships, statuses, missing = [], [], 0
    for f in facts:
        r = f.row
        ship = rules.RowShipping(r.quantity, f.packed, f.delivered)
        assigned = f.held if f.tracking == "serial" else f.picked
        t = rules.row_tracing(f.tracking, r.quantity, assigned, ship.shipped, f.shipped_serials)
        _set(r, "tracing_status", t.tracing_status)
        _set(r, "traced_quantity", t.assigned)
        _set(r, "missing_serial_numbers", t.missing_serial_numbers)
        ships.append(ship)
        statuses.append(t.tracing_status)
        missing += t.missing_serial_numbers
    order.status = rules.order_status(ships, order.status)
    order.tracing_status = rules.order_tracing(statuses)
    order.missing_serial_numbers = missing
    order.updated_at = utcnow()


def _set(obj: Any, attr: str, value: Any) -> None:
    """Assign only a changed value, so an unchanged row is not UPDATEd."""
    if getattr(obj, attr) != value:
        setattr(obj, attr, value)


def _refresh_query(order_id: int) -> Any:
    from tracelot.db.models import Item

    row_id = SalesOrderRow.id
    live_frow = (
        select(func.sum(SalesOrderFulfillmentRow.quantity))
        .join(
            SalesOrderFulfillment,
            SalesOrderFulfillment.id == SalesOrderFulfillmentRow.fulfillment_id,
        )
        .where(
            SalesOrderFulfillmentRow.sales_order_row_id == row_id,
            SalesOrderFulfillment.deleted_at.is_(None),
        )
    )
    return (
        select(
            SalesOrderRow,
            Item.tracking.label("tracking"),
            select(func.count())
            .where(Serial.holder_type == ROW, Serial.holder_id == row_id)
            .scalar_subquery()
            .label("held"),
            select(func.sum(BatchPick.quantity))
            .where(BatchPick.resource_type == ROW, BatchPick.resource_id == row_id)
            .scalar_subquery()
            .label("picked"),
            live_frow.where(SalesOrderFulfillment.status == "PACKED")
            .scalar_subquery()
            .label("packed"),
            live_frow.where(SalesOrderFulfillment.status == "DELIVERED")
            .scalar_subquery()
            .label("delivered"),
            select(func.count())
            .select_from(SalesOrderFulfillmentRow)
            .join(
                SerialTransaction,
                (SerialTransaction.resource_type == FROW)
                & (SerialTransaction.resource_id == SalesOrderFulfillmentRow.id),
            )
            .where(
                SalesOrderFulfillmentRow.sales_order_row_id == row_id,
                SerialTransaction.is_active.is_(True),
                SerialTransaction.quantity_change == -1,
            )
            .scalar_subquery()
            .label("shipped_serials"),
        )
        .join(Variant, Variant.id == SalesOrderRow.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .where(SalesOrderRow.sales_order_id == order_id, SalesOrderRow.deleted_at.is_(None))
        .order_by(SalesOrderRow.id)
    )


# --- serial assignment -----------------------------------------------------------------------


def assign_serials(
    session: Session,
    row: SalesOrderRow,
    serial_ids: list[int],
    actor: str,
    *,
    path: str = "serial_number_transactions",
    join: bool = True,
    while_shipping: bool = False,
    known: dict[int, Any] | None = None,
) -> list[int]:
    """Hold serials for the row (conditional, all or none); they join PACKED fulfilments.

    The serials are read once (variant, holder, status, hold) and every check
    runs on that read. While a fulfilment is being created, it refreshes the
    order once at its end, so this does not.
    """
    order = session.get(SalesOrder, row.sales_order_id)
    assert order is not None
    if not while_shipping:  # a fulfilment being created assigns what it ships
        rules.check_open(shipping(session, [row])[row.id], order.order_no, path=path)
    variant = serial_variant(session, row.variant_id, path)
    found = known or _check_of_variant(session, variant.id, serial_ids, path)
    new = [
        i
        for i in dict.fromkeys(serial_ids)
        if not (found[i].holder_type == ROW and found[i].holder_id == row.id)
    ]
    if not new:
        return []
    quantity = lock_row(session, row)
    held = int(_assigned(session, row, "serial"))
    if held + len(new) > quantity:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"The row needs {int(quantity)} "
            f"serial(s) and holds {held}; cannot add {len(new)}. Release some "
            "first or raise the quantity.",
            path=path,
        )
    _refuse_gone_or_held([found[i] for i in new], path)
    ledger.hold_serials(session, new, ROW, row.id, row.location_id or order.location_id, actor)
    if join:
        join_packed(session, order, row, new, actor)
    if not while_shipping:
        refresh(session, order)
    webhooks.emit(session, "serial_number.updated", "sales_order_row", row.id, order.tracing_status)
    return new


def lock_row(session: Session, row: SalesOrderRow) -> Decimal:
    """Lock the row until commit and return its quantity as committed.

    Counting a row's serials and then holding more is read-then-write: two
    concurrent assignments to one row must take turns, or both could fit. On
    PostgreSQL this is ``SELECT ... FOR UPDATE``; SQLite already runs one writer
    at a time (BEGIN IMMEDIATE) and renders no FOR UPDATE.
    """
    quantity = session.scalar(
        select(SalesOrderRow.quantity).where(SalesOrderRow.id == row.id).with_for_update()
    )
    return Decimal(quantity if quantity is not None else row.quantity)


def serial_variant(session: Session, variant_id: int, path: str) -> Variant:
    """``serials.serial_variant`` over the session's kept variant."""
    variant = variant_of(session, variant_id, path)
    if variant.item.tracking != "serial":
        return serials.serial_variant(session, variant_id, path)  # refuses with its message
    return variant


def _check_of_variant(
    session: Session, variant_id: int, serial_ids: list[int], path: str
) -> dict[int, Any]:
    """One read of the serials; refuse unknown ids and other variants' serials by name."""
    rows = session.execute(
        select(
            Serial.id,
            Serial.variant_id,
            Serial.serial_number,
            Serial.status,
            Serial.holder_type,
            Serial.holder_id,
            Serial.hold_reason,
        ).where(Serial.id.in_(list(serial_ids)))
    ).all()
    found = {r.id: r for r in rows}
    details = [
        errors.Detail(path, errors.MISSING, f"Serial number id {i} does not exist.")
        for i in serial_ids
        if i not in found
    ]
    details += [
        errors.Detail(
            path,
            errors.NOT_IN_STOCK,
            f"Serial number '{r.serial_number}' belongs to another item or variant.",
            {"serial_number": r.serial_number},
        )
        for r in rows
        if r.variant_id != variant_id
    ]
    if details:
        raise errors.refuse_many(details)
    return found


def _refuse_gone_or_held(rows: list[Any], path: str) -> None:
    """Name serials that left stock, then serials on hold (as ``holds.check_not_on_hold``)."""
    gone = [r for r in rows if r.status not in ("in_stock", "reserved")]
    if gone:
        raise errors.refuse_many(
            [
                errors.Detail(
                    path,
                    errors.NOT_IN_STOCK,
                    f"Serial number '{g.serial_number}' is {g.status}, not "
                    "in stock: pick a serial that is on hand.",
                    {"serial_number": g.serial_number},
                )
                for g in gone
            ]
        )
    held = sorted((r for r in rows if r.hold_reason is not None), key=lambda r: r.id)[:50]
    if held:
        raise errors.refuse_many(
            [
                errors.Detail(
                    path or "serial_numbers",
                    errors.ON_HOLD,
                    f"Serial '{h.serial_number}' is on hold ({h.hold_reason}): "
                    "release the hold (DELETE its hold) or pick another serial.",
                    {"serial_number": h.serial_number, "hold_reason": h.hold_reason},
                )
                for h in held
            ]
        )


def _refuse_delivered(session: Session, ids: list[int], path: str) -> None:
    """Name serials that have already left stock (delivered, consumed, removed)."""
    gone = session.execute(
        select(Serial.serial_number, Serial.status).where(
            Serial.id.in_(ids), Serial.status.not_in(("in_stock", "reserved"))
        )
    ).all()
    if gone:
        raise errors.refuse_many(
            [
                errors.Detail(
                    path,
                    errors.NOT_IN_STOCK,
                    f"Serial number '{g.serial_number}' is {g.status}, not "
                    "in stock: pick a serial that is on hand.",
                    {"serial_number": g.serial_number},
                )
                for g in gone
            ]
        )


def release_row_serials(
    session: Session,
    row: SalesOrderRow,
    serial_ids: list[int],
    actor: str,
    path: str = "serial_number_transactions",
) -> None:
    """Undo holds; a serial already shipped must be reverted with its fulfilment first."""
    found = session.execute(
        select(Serial.id, Serial.serial_number, Serial.status).where(
            Serial.id.in_(serial_ids), Serial.holder_type == ROW, Serial.holder_id == row.id
        )
    ).all()
    known = {f.id for f in found}
    missing = [i for i in serial_ids if i not in known]
    if missing:
        raise errors.refuse(
            errors.MISSING,
            f"Serial number id {missing[0]} is not assigned to sales order row {row.id}.",
            path=path,
        )
    shipped = [f for f in found if f.status != "reserved"]
    if shipped:
        raise errors.refuse(
            errors.IN_USE,
            f"Serial number '{shipped[0].serial_number}' has been "
            "packed or delivered: revert that fulfilment first.",
            path=path,
        )
    ledger.release_serials(session, serial_ids, ROW, row.id)
    order = session.get(SalesOrder, row.sales_order_id)
    if order is not None:
        refresh(session, order)
        webhooks.emit(
            session, "serial_number.updated", "sales_order_row", row.id, order.tracing_status
        )


def join_packed(
    session: Session, order: SalesOrder, row: SalesOrderRow, serial_ids: list[int], actor: str
) -> None:
    """Newly held serials fill the row's PACKED fulfilments that lack serials, oldest first."""
    left = list(serial_ids)
    frows = (
        session.execute(
            select(SalesOrderFulfillmentRow)
            .join(
                SalesOrderFulfillment,
                SalesOrderFulfillment.id == SalesOrderFulfillmentRow.fulfillment_id,
            )
            .where(
                SalesOrderFulfillmentRow.sales_order_row_id == row.id,
                SalesOrderFulfillment.deleted_at.is_(None),
                SalesOrderFulfillment.status == "PACKED",
            )
            .order_by(SalesOrderFulfillment.id)
        )
        .scalars()
        .all()
    )
    for fr in frows:
        if not left:
            break
        done = frow_serial_count(session, fr.id)
        take, left = (
            left[: max(0, int(fr.quantity) - done)],
            left[max(0, int(fr.quantity) - done) :],
        )
        if take:  # their units left with the fulfilment already
            ship_serials(session, order, row, fr.id, take, actor, units=Decimal(0))


def frow_serial_count(session: Session, frow_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                SerialTransaction.resource_type == FROW,
                SerialTransaction.resource_id == frow_id,
                SerialTransaction.quantity_change == -1,
                SerialTransaction.is_active.is_(True),
            )
        )
        or 0
    )


def delivery_doc(
    order: SalesOrder, frow_id: int, actor: str, reason: str = "delivery"
) -> ledger.Doc:
    return ledger.Doc(
        reason=reason,
        resource_type=FROW,
        resource_id=frow_id,
        user=actor,
        document=order.order_no,
        caused_by_order_no=order.order_no,
        serial_status_out="delivered",
    )


def ship_serials(
    session: Session,
    order: SalesOrder,
    row: SalesOrderRow,
    frow_id: int,
    serial_ids: list[int],
    actor: str,
    units: Decimal | None = None,
) -> None:
    """Units leave stock on a fulfilment row (one movement), with the serials named.

    ``units`` is the quantity leaving: a short row ships its full quantity with
    fewer serials, so stock levels stay true. Serials named later for units that
    already left (``units`` 0) attach to the fulfilment without moving quantity.
    """
    quantity = Decimal(-len(serial_ids)) if units is None else -units
    ledger.post(
        session,
        delivery_doc(order, frow_id, actor),
        [
            ledger.Change(
                row.variant_id,
                row.location_id or order.location_id,
                quantity,
                serial_ids=serial_ids,
                serial_direction=-1,
            )
        ],
    )


# --- batch picks -------------------------------------------------------------------------------


def set_batch_picks(
    session: Session,
    row: SalesOrderRow,
    picks: list[dict[str, Any]],
    actor: str,
    *,
    allow_expired: bool = False,
    path: str = "batch_transactions",
) -> None:
    """Replace the row's batch picks; expired only when allowed, held never."""
    order = session.get(SalesOrder, row.sales_order_id)
    assert order is not None
    rules.check_open(shipping(session, [row])[row.id], order.order_no, path=path)
    variant = batches.batch_variant(session, row.variant_id, path)
    wanted: dict[int, Decimal] = defaultdict(Decimal)
    for j, p in enumerate(picks):
        ppath = f"{path}[{j}]"
        if not p.get("batch_id"):
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                "Each batch pick names a batch_id.",
                path=f"{ppath}.batch_id",
            )
        qty = Decimal(str(p.get("quantity") or 0))
        if qty <= 0:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                "Each batch pick needs a quantity above 0.",
                path=f"{ppath}.quantity",
            )
        batch = batches.of_variant(session, int(p["batch_id"]), variant.id, f"{ppath}.batch_id")
        check_batch(batch, allow_expired, f"{ppath}.batch_id")
        wanted[batch.id] += qty
    if sum(wanted.values(), Decimal(0)) > row.quantity:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"Batch picks add up to "
            f"{sum(wanted.values())} but the row's quantity is {row.quantity}.",
            path=path,
        )
    _check_free(session, row, wanted, path)
    session.execute(
        delete(BatchPick).where(BatchPick.resource_type == ROW, BatchPick.resource_id == row.id)
    )
    for bid, qty in wanted.items():
        session.add(BatchPick(resource_type=ROW, resource_id=row.id, batch_id=bid, quantity=qty))
    session.flush()
    refresh(session, order)
    webhooks.emit(session, "batch.updated", "sales_order_row", row.id, order.tracing_status)


def batches_held_elsewhere(
    session: Session, variant_id: int, location_id: int, row_id: int
) -> dict[int, Decimal]:
    """Per batch at the place: what other open sales rows picked and have not shipped.

    Batch picks hold stock the way serial holds do (SPEC §3), so neither the FEFO
    proposal nor another row may take it. Two grouped queries, whatever the count.
    """
    place = func.coalesce(SalesOrderRow.location_id, SalesOrder.location_id)
    picks = session.execute(
        select(BatchPick.resource_id, BatchPick.batch_id, BatchPick.quantity)
        .join(SalesOrderRow, SalesOrderRow.id == BatchPick.resource_id)
        .join(SalesOrder, SalesOrder.id == SalesOrderRow.sales_order_id)
        .where(
            BatchPick.resource_type == ROW,
            SalesOrderRow.variant_id == variant_id,
            SalesOrderRow.id != row_id,
            SalesOrderRow.deleted_at.is_(None),
            SalesOrder.deleted_at.is_(None),
            place == location_id,
        )
    ).all()
    if not picks:
        return {}
    shipped = {
        (r, b): -Decimal(q)
        for r, b, q in session.execute(
            select(
                SalesOrderFulfillmentRow.sales_order_row_id,
                Movement.batch_id,
                func.sum(Movement.quantity),
            )
            .join(
                Movement,
                (Movement.resource_type == FROW)
                & (Movement.resource_id == SalesOrderFulfillmentRow.id),
            )
            .where(SalesOrderFulfillmentRow.sales_order_row_id.in_({p[0] for p in picks}))
            .group_by(SalesOrderFulfillmentRow.sales_order_row_id, Movement.batch_id)
        )
    }
    held: dict[int, Decimal] = defaultdict(Decimal)
    for rid, bid, qty in picks:
        if bid is not None:
            held[bid] += max(Decimal(0), Decimal(qty) - shipped.get((rid, bid), Decimal(0)))
    return dict(held)


def _check_free(
    session: Session,
    row: SalesOrderRow,
    wanted: dict[int, Decimal],
    path: str,
    *,
    leaving_now: bool = False,
) -> None:
    """Refuse picks beyond what is on hand at the row's place and held by no other row.

    ``wanted`` is the row's whole pick per batch, of which what the row shipped
    already is no longer on hand; with ``leaving_now`` it is what a fulfilment
    is about to take out, all of which must still be on hand and free.
    """
    loc = row_location(session, row)
    held = batches_held_elsewhere(session, row.variant_id, loc, row.id)
    on_hand = dict(
        session.execute(
            select(Stock.batch_id, func.sum(Stock.quantity))
            .where(
                Stock.variant_id == row.variant_id,
                Stock.location_id == loc,
                Stock.batch_id.in_(list(wanted)),
            )
            .group_by(Stock.batch_id)
        ).all()
    )
    own_shipped = (
        {}
        if leaving_now
        else {
            b: -Decimal(q)
            for b, q in session.execute(
                select(Movement.batch_id, func.sum(Movement.quantity))
                .join(
                    SalesOrderFulfillmentRow,
                    (Movement.resource_type == FROW)
                    & (Movement.resource_id == SalesOrderFulfillmentRow.id),
                )
                .where(SalesOrderFulfillmentRow.sales_order_row_id == row.id)
                .group_by(Movement.batch_id)
            )
            if b is not None
        }
    )
    for bid, qty in wanted.items():
        free = Decimal(on_hand.get(bid) or 0) - held.get(bid, Decimal(0))
        if qty - own_shipped.get(bid, Decimal(0)) > free:
            number = session.scalar(select(Batch.batch_number).where(Batch.id == bid))
            raise errors.refuse(
                errors.NOT_IN_STOCK,
                f"Only {max(free, Decimal(0)).normalize():f} of batch '{number}' are free here "
                f"({Decimal(on_hand.get(bid) or 0).normalize():f} on hand, "
                f"{held.get(bid, Decimal(0)).normalize():f} picked for other orders): "
                "pick less or another batch.",
                path=path,
                batch_id=bid,
            )


def check_batch(batch: Any, allow_expired: bool, path: str) -> None:
    pick_rules.check_pickable(
        pick_rules.BatchStock(
            batch.id, batch.batch_number, batch.expiration_date, Decimal(0), batch.hold_reason
        ),
        date.today(),
        allow_expired,
        path,
    )


def add_batch_pick(session: Session, row: SalesOrderRow, batch_id: int, qty: Decimal) -> None:
    pick = session.scalar(
        select(BatchPick).where(
            BatchPick.resource_type == ROW,
            BatchPick.resource_id == row.id,
            BatchPick.batch_id == batch_id,
        )
    )
    if pick is None:
        session.add(
            BatchPick(resource_type=ROW, resource_id=row.id, batch_id=batch_id, quantity=qty)
        )
    else:
        pick.quantity += qty
    session.flush()


# --- make-to-order contract (called by the manufacturing capability) ----------------------------


def link_manufacturing_order(session: Session, row_id: int, mo_id: int) -> SalesOrderRow:
    row = get(session, SalesOrderRow, row_id, "Sales order row", path="sales_order_row_id")
    if row.linked_manufacturing_order_id and row.linked_manufacturing_order_id != mo_id:
        raise errors.refuse(
            errors.ALREADY_LINKED,
            f"Sales order row {row.id} is already "
            f"linked to manufacturing order {row.linked_manufacturing_order_id}:"
            " unlink it first.",
            path="sales_order_row_id",
        )
    if row.linked_manufacturing_order_id == mo_id:
        raise errors.refuse(
            errors.ALREADY_LINKED,
            f"Sales order row {row.id} is already linked to manufacturing order {mo_id}.",
            path="sales_order_row_id",
        )
    row.linked_manufacturing_order_id = mo_id
    row.fulfilment = "order"
    row.updated_at = utcnow()
    session.flush()
    return row


def unlink_manufacturing_order(session: Session, row_id: int, actor: str) -> None:
    """Forget the link and release the serials/batch picks production put on the row."""
    row = get(session, SalesOrderRow, row_id, "Sales order row", path="sales_order_row_id")
    produced = select(SerialTransaction.serial_id).where(
        or_(
            SerialTransaction.reason == "production",
            SerialTransaction.resource_type.in_(("Production", "ManufacturingOrder")),
        ),
        SerialTransaction.quantity_change == 1,
    )
    ids = list(
        session.scalars(
            select(Serial.id).where(
                Serial.holder_type == ROW,
                Serial.holder_id == row.id,
                Serial.status == "reserved",
                Serial.id.in_(produced),
            )
        )
    )
    ledger.release_serials(session, ids, ROW, row.id)
    row.linked_manufacturing_order_id = None
    row.updated_at = utcnow()
    order = session.get(SalesOrder, row.sales_order_id)
    if order is not None:
        refresh(session, order)


def assign_production_output(
    session: Session,
    row_id: int,
    *,
    serial_ids: list[int],
    batch_id: int | None,
    quantity: Decimal,
    actor: str,
) -> None:
    """Hold produced serials (or pick the produced batch) for the linked row.

    Runs inside the production transaction, after the units entered stock. Only
    what the row still needs is taken; the rest stays free stock. A row already
    delivered in full is left alone (production must not fail because of it).
    """
    row = get(session, SalesOrderRow, row_id, "Sales order row", path="sales_order_row_id")
    order = session.get(SalesOrder, row.sales_order_id)
    assert order is not None
    if shipping(session, [row])[row.id].all_delivered:
        return
    row_quantity = lock_row(session, row)  # against a concurrent assignment to the row
    if serial_ids:
        room = int(row_quantity) - int(_assigned(session, row, "serial"))
        take = list(serial_ids)[: max(0, room)]
        if take:
            ledger.hold_serials(
                session, take, ROW, row.id, row.location_id or order.location_id, actor
            )
            join_packed(session, order, row, take, actor)
    elif batch_id is not None:
        amount = min(row_quantity - _assigned(session, row, "batch"), Decimal(quantity))
        if amount > 0:
            add_batch_pick(session, row, batch_id, amount)
    refresh(session, order)
    webhooks.emit(
        session,
        "serial_number.updated" if serial_ids else "batch.updated",
        "sales_order_row",
        row.id,
        order.tracing_status,
    )


def release_production_output(
    session: Session,
    row_id: int,
    serial_ids: list[int],
    batch_id: int | None,
    quantity: Decimal,
    actor: str,
) -> None:
    """Undo ``assign_production_output`` for a production revert (units not yet shipped)."""
    row = get(session, SalesOrderRow, row_id, "Sales order row", path="sales_order_row_id")
    if serial_ids:
        mine = session.execute(
            select(Serial.id, Serial.serial_number, Serial.status).where(
                Serial.id.in_(list(serial_ids)),
                Serial.holder_type == ROW,
                Serial.holder_id == row.id,
            )
        ).all()
        shipped = [m for m in mine if m.status != "reserved"]
        if shipped:
            raise errors.refuse(
                errors.IN_USE,
                f"Serial number '{shipped[0].serial_number}' "
                "has been packed or delivered on the sales order: revert that "
                "fulfilment first.",
                path="serial_numbers",
            )
        ledger.release_serials(session, [m.id for m in mine], ROW, row.id)
    if batch_id is not None:
        pick = session.scalar(
            select(BatchPick).where(
                BatchPick.resource_type == ROW,
                BatchPick.resource_id == row.id,
                BatchPick.batch_id == batch_id,
            )
        )
        if pick is not None:
            pick.quantity -= min(pick.quantity, quantity)
            if pick.quantity <= 0:
                session.delete(pick)
            session.flush()
    order = session.get(SalesOrder, row.sales_order_id)
    if order is not None:
        refresh(session, order)


# --- POST/DELETE /serial_numbers on SalesOrderRow ------------------------------------------------


def _link(session: Session, row_id: int, numbers: list[str], actor: str) -> list[int]:
    row = get(session, SalesOrderRow, row_id, "Sales order row", path="resource_id")
    variant = serials.serial_variant(session, row.variant_id, "resource_id")
    ids = serials.find(session, variant.item_id, serials.expand_entries(numbers))
    assign_serials(session, row, ids, actor, path="serial_numbers")
    return ids


def _unlink(session: Session, row_id: int, ids: list[int], actor: str) -> None:
    row = get(session, SalesOrderRow, row_id, "Sales order row", path="resource_id")
    release_row_serials(session, row, ids, actor, path="ids")


serials.register(ROW, _link, _unlink)

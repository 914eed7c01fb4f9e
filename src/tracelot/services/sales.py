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

from collections import defaultdict, namedtuple
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from tracelot.db.base import utcnow
from tracelot.db.models import (
    Batch,
    BatchPick,
    Customer,
    Item,
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
from tracelot.db.sql import CHUNK, table
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
    return create_order_rows(session, data, actor)[0]


def create_order_rows(
    session: Session, data: dict[str, Any], actor: str
) -> tuple[SalesOrder, list[SalesOrderRow]]:
    """``create_order``, handing back the new rows too (they hold no serials or batches).

    One read checks the customer, the locations and the variants (with their
    tracking) and counts the enabled webhooks; the order's and the rows' cached
    status is known before their INSERTs (a new order holds and ships nothing),
    so nothing is UPDATEd after. A refusal is the same as a check one at a time.
    """
    rows = data.get("sales_order_rows") or []
    conn = ledger.connection(session)
    ctx = _new_order_context(conn, data, rows)
    if not ctx.customer_ok:
        _check_customer(session, data.get("customer_id"))  # refuses
    if data.get("location_id"):
        loc_id = _as_int(data["location_id"])
        if loc_id not in ctx.locations:
            loc_id = get(session, Location, data["location_id"], "Location", path="location_id").id
    else:
        loc_id = ctx.primary if ctx.primary is not None else primary_location(session).id
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
    now = utcnow()
    planned = [
        _planned_row(session, ctx, r, f"sales_order_rows[{i}]", now) for i, r in enumerate(rows)
    ]
    header = {k: v for k, v in data.items() if v is not None and k in HEADER_FIELDS}
    header.pop("location_id", None)
    if header.get("ecommerce_order_id") is not None:  # Katana sends it as a string or a number
        header["ecommerce_order_id"] = str(header["ecommerce_order_id"])
    tracings = [t for _, t in planned]
    values: dict[str, Any] = {
        **dict.fromkeys(_ORDER_COLUMNS),
        **header,
        "customer_id": int(data["customer_id"]),
        "location_id": loc_id,
        "status": status,
        "order_created_date": data.get("order_created_date") or now,
        "tracing_status": rules.order_tracing(t.tracing_status for t in tracings),
        "missing_serial_numbers": 0,
        "created_at": now,
        "updated_at": now,
    }
    values["order_no"] = values.get("order_no") or None
    order_id, values["order_no"] = _insert_order(conn, values)
    values["id"] = order_id
    for r, _ in planned:
        r["sales_order_id"] = order_id
    if len(planned) == 1:
        ids = [conn.execute(_INSERT_ROW, planned[0][0]).scalar_one()]
    else:
        ids = list(conn.execute(_INSERT_ROWS, [r for r, _ in planned]).scalars())
    order = attach(session, SalesOrder, values)
    new_rows = [
        attach(session, SalesOrderRow, {**r, "id": i})
        for (r, _), i in zip(planned, ids, strict=True)
    ]
    if data.get("ecommerce_order_id") and not data.get("_imported"):
        register_import(
            session,
            data.get("ecommerce_order_type") or "api",
            str(data["ecommerce_order_id"]),
            None,
            order.id,
        )
    keep(session, order, *new_rows)
    webhooks.prime(session, ctx.hooks)
    webhooks.emit(session, "sales_order.created", "sales_order", order.id, order.status)
    return order, new_rows


def attach[T](session: Session, cls: type[T], values: dict[str, Any]) -> T:
    """An ORM object for a row just written (or read) with Core: persistent, no SQL.

    ``values`` has every column. The object is as if loaded: nothing to flush. The
    identity map is weak, so callers that need it later ``keep`` it.
    """
    held = session.identity_map.get(identity_key(cls, values["id"]))
    if held is not None:
        return held  # type: ignore[no-any-return]
    obj = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(values)  # as a load fills it: no attribute events
    make_transient_to_detached(obj)
    session.add(obj)
    return obj  # type: ignore[no-any-return]


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class _NewOrderContext:
    customer_ok: bool = False
    locations: set[int] = field(default_factory=set)
    primary: int | None = None
    variants: dict[int, VariantFacts] = field(default_factory=dict)
    hooks: int = 1


def _ctx_arm(kind: str, *cols: Any) -> Any:
    """One arm of the context UNION: (kind, id, tracking, item id), NULLs typed for PG."""
    blanks = [cast(null(), String).label("n1"), cast(null(), Integer).label("n2")]
    return select(literal_column(f"'{kind}'").label("k"), *cols, *blanks[len(cols) - 1 :])


_CTX_CUSTOMER = _ctx_arm("c", Customer.id).where(
    Customer.id == bindparam("customer"), Customer.deleted_at.is_(None)
)
_CTX_LOCATIONS = _ctx_arm("l", Location.id).where(
    Location.id.in_(bindparam("locations", expanding=True)), Location.deleted_at.is_(None)
)
_primary = (
    select(Location.id)
    .where(Location.deleted_at.is_(None))
    .order_by(Location.is_primary.desc(), Location.id)
    .limit(1)
    .subquery()
)
_CTX_PRIMARY = _ctx_arm("p", _primary.c.id)
_CTX_VARIANTS = _ctx_arm("v", Variant.id, Item.tracking, Variant.item_id).where(
    Item.id == Variant.item_id,
    Variant.id.in_(bindparam("variants", expanding=True)),
    Variant.deleted_at.is_(None),
)
_CTX_HOOKS = _ctx_arm("w", webhooks.ENABLED_COUNT)
_NEW_ORDER = union_all(_CTX_CUSTOMER, _CTX_LOCATIONS, _CTX_VARIANTS, _CTX_HOOKS)
_NEW_ORDER_PRIMARY = union_all(
    _CTX_CUSTOMER, _CTX_PRIMARY, _CTX_LOCATIONS, _CTX_VARIANTS, _CTX_HOOKS
)


def _new_order_context(
    conn: Connection, data: dict[str, Any], rows: list[dict[str, Any]]
) -> _NewOrderContext:
    """Customer, locations, variants and the webhook count: one statement."""
    locations = [_as_int(r.get("location_id")) for r in rows if r.get("location_id")]
    explicit = bool(data.get("location_id"))
    if explicit:
        locations.append(_as_int(data["location_id"]))
    params = {
        "customer": _as_int(data.get("customer_id")),
        "locations": [i for i in locations if i is not None],
        "variants": [
            i for i in (_as_int(r.get("variant_id")) for r in rows if isinstance(r, dict)) if i
        ],
    }
    ctx = _NewOrderContext()
    for kind, ident, tracking, item_id in conn.execute(
        _NEW_ORDER if explicit else _NEW_ORDER_PRIMARY, params
    ):
        if kind == "c":
            ctx.customer_ok = True
        elif kind == "l":
            ctx.locations.add(ident)
        elif kind == "p":
            ctx.primary = ident
        elif kind == "v":
            ctx.variants[ident] = VariantFacts(ident, item_id, tracking)
        else:
            ctx.hooks = int(ident or 0)
    return ctx


def _planned_row(
    session: Session, ctx: _NewOrderContext, r: dict[str, Any], path: str, now: Any
) -> tuple[dict[str, Any], rules.RowTracing]:
    """A new row's values, checked as ``add_row`` checks them (same refusals, same order)."""
    pre = f"{path}."
    variant = ctx.variants.get(_as_int(r.get("variant_id")))  # type: ignore[arg-type]
    if variant is None:
        variant = variant_facts(session, r.get("variant_id"), f"{pre}variant_id")
    else:
        session.info.setdefault(_FACTS, {})[variant.id] = variant
    qty = rules.check_quantity(
        Decimal(str(r.get("quantity", 0))), variant.tracking, f"{pre}quantity"
    )
    fulfilment = _check_fulfilment(r, pre)
    loc_id = r.get("location_id")
    if loc_id and _as_int(loc_id) not in ctx.locations:
        get(session, Location, loc_id, "Location", path=f"{pre}location_id")
    t = rules.row_tracing(variant.tracking, qty, Decimal(0), Decimal(0), 0)
    return {
        **dict.fromkeys(_ROW_COLUMNS),
        "variant_id": variant.id,
        "quantity": qty,
        "price_per_unit": r.get("price_per_unit"),
        "location_id": loc_id,
        "fulfilment": fulfilment,
        "tracing_status": t.tracing_status,
        "traced_quantity": t.assigned,
        "missing_serial_numbers": t.missing_serial_numbers,
        "created_at": now,
        "updated_at": now,
    }, t


def _check_fulfilment(r: dict[str, Any], pre: str) -> str:
    fulfilment = r.get("fulfilment") or "stock"
    if fulfilment not in ("stock", "order"):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "fulfilment is 'stock' (make-to-stock) or 'order' (make-to-order).",
            path=f"{pre}fulfilment",
        )
    return str(fulfilment)


_orders, _rows = table(SalesOrder), table(SalesOrderRow)
_ORDER_COLUMNS = [c.name for c in _orders.c if c.name != "id"]
_ROW_COLUMNS = [c.name for c in _rows.c if c.name != "id"]
# SQLite: the order's number comes with its INSERT. The writer holds the database
# lock (BEGIN IMMEDIATE), and max(id) + 1 is the rowid SQLite would pick itself.
_next_id = func.coalesce(func.max(_orders.c.id), 0) + 1
_INSERT_ORDER_SQLITE = (
    insert(_orders)
    .from_select(
        ["id", *_ORDER_COLUMNS],
        select(
            _next_id,
            *[
                func.coalesce(
                    bindparam("p_order_no", type_=String),
                    literal_column("'SO-'", String) + cast(_next_id, String),
                )
                if c == "order_no"
                else bindparam(f"p_{c}", type_=_orders.c[c].type)
                for c in _ORDER_COLUMNS
            ],
        ).select_from(_orders),
    )
    .returning(_orders.c.id, _orders.c.order_no)
)
_NEXT_ORDER_ID = select(
    func.nextval(func.pg_get_serial_sequence(literal_column("'sales_orders'"), "id"))
)
_INSERT_ORDER = insert(_orders)
_INSERT_ROW = insert(_rows).returning(_rows.c.id)
_INSERT_ROWS = insert(_rows).returning(_rows.c.id, sort_by_parameter_order=True)


def _insert_order(conn: Connection, values: dict[str, Any]) -> tuple[int, str]:
    """INSERT the order with its number (``SO-<id>`` unless one was sent): one write."""
    if conn.dialect.name == "sqlite":
        oid, number = conn.execute(
            _INSERT_ORDER_SQLITE, {f"p_{k}": values[k] for k in _ORDER_COLUMNS}
        ).one()
        return int(oid), str(number)
    oid = int(conn.execute(_NEXT_ORDER_ID).scalar_one())
    number = values["order_no"] or f"SO-{oid}"
    conn.execute(_INSERT_ORDER, {**values, "id": oid, "order_no": number})
    return oid, number


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
    fulfilment = _check_fulfilment(r, pre)
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


@dataclass(frozen=True)
class VariantFacts:
    """What a sale needs of a variant: its item and the item's tracking."""

    id: int
    item_id: int
    tracking: str


_FACTS = "tracelot_sales_variant_facts"  # session.info: variant id -> VariantFacts
_VARIANT_FACTS = (
    select(Variant.id, Variant.item_id, Item.tracking)
    .join(Item, Item.id == Variant.item_id)
    .where(Variant.id == bindparam("id"), Variant.deleted_at.is_(None))
)


def variant_facts(session: Session, variant_id: Any, path: str = "variant_id") -> VariantFacts:
    """A variant's item and tracking, read once per session (refuses as ``get`` does)."""
    cache: dict[int, VariantFacts] = session.info.setdefault(_FACTS, {})
    key = _as_int(variant_id)
    facts = cache.get(key) if key is not None else None
    if facts is None:
        row = (
            session.connection().execute(_VARIANT_FACTS, {"id": key}).first()
            if key is not None
            else None
        )
        if row is None:
            variant = get(session, Variant, variant_id, "Variant", path=path)  # refuses
            facts = VariantFacts(variant.id, variant.item_id, variant.item.tracking)
        else:
            facts = VariantFacts(row.id, row.item_id, row.tracking)
        cache[facts.id] = facts
    return facts


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
    with correlated aggregates, each served by an index. Only rows whose cache
    changes are UPDATEd; the session's objects are given the new values.
    """
    conn = ledger.connection(session)
    write_tracing(session, conn, order, conn.execute(_ORDER_STATE, {"oid": order.id}).all())


_variants, _items, _picks = table(Variant), table(Item), table(BatchPick)
_frows, _fulfilments = table(SalesOrderFulfillmentRow), table(SalesOrderFulfillment)
_links, _serials = table(SerialTransaction), table(Serial)


def _row_facts(row_id: Any) -> list[Any]:
    """Per row: serials held, batch quantity picked, packed, delivered, serials shipped."""
    live_frow = (
        select(func.sum(_frows.c.quantity))
        .join(_fulfilments, _fulfilments.c.id == _frows.c.fulfillment_id)
        .where(_frows.c.sales_order_row_id == row_id, _fulfilments.c.deleted_at.is_(None))
    )
    return [
        select(func.count())
        .select_from(_serials)
        .where(_serials.c.holder_type == ROW, _serials.c.holder_id == row_id)
        .scalar_subquery()
        .label("held"),
        select(func.sum(_picks.c.quantity))
        .where(_picks.c.resource_type == ROW, _picks.c.resource_id == row_id)
        .scalar_subquery()
        .label("picked"),
        live_frow.where(_fulfilments.c.status == "PACKED").scalar_subquery().label("packed"),
        live_frow.where(_fulfilments.c.status == "DELIVERED").scalar_subquery().label("delivered"),
        select(func.count())
        .select_from(_links)
        .where(  # the row's fulfilment rows first, then their links (resource index)
            _links.c.resource_type == FROW,
            _links.c.resource_id.in_(
                select(_frows.c.id)
                .where(_frows.c.sales_order_row_id == row_id)
                .correlate(_rows)  # the enclosing statement's row, two levels out
            ),
            _links.c.is_active.is_(True),
            _links.c.quantity_change == -1,
        )
        .scalar_subquery()
        .label("shipped_serials"),
    ]


# The order, its live rows with their items' tracking and facts, and the webhook count:
# what a fulfilment checks and what ``refresh`` computes from, in one statement.
_ORDER_STATE = (
    select(
        *[c.label(f"o_{c.name}") for c in _orders.c],
        *[c.label(f"r_{c.name}") for c in _rows.c],
        _items.c.tracking,
        _variants.c.item_id,
        *_row_facts(_rows.c.id),
        webhooks.ENABLED_COUNT.label("hooks"),
    )
    .select_from(_orders)
    .outerjoin(_rows, (_rows.c.sales_order_id == _orders.c.id) & _rows.c.deleted_at.is_(None))
    .outerjoin(_variants, _variants.c.id == _rows.c.variant_id)
    .outerjoin(_items, _items.c.id == _variants.c.item_id)
    .where(_orders.c.id == bindparam("oid"))
    .order_by(_rows.c.id)
)
_UPDATE_ROW_TRACING = (
    update(_rows)
    .where(_rows.c.id == bindparam("rid"))
    .values(
        tracing_status=bindparam("ts"),
        traced_quantity=bindparam("tq", type_=_rows.c.traced_quantity.type),
        missing_serial_numbers=bindparam("ms"),
        updated_at=bindparam("now", type_=_rows.c.updated_at.type),
    )
)
_UPDATE_ORDER_TRACING = (
    update(_orders)
    .where(_orders.c.id == bindparam("oid"))
    .values(
        status=bindparam("st"),
        tracing_status=bindparam("ts"),
        missing_serial_numbers=bindparam("ms"),
        updated_at=bindparam("now", type_=_orders.c.updated_at.type),
    )
)


@dataclass
class RowState:
    """A live row of an order with what its shipping and tracing follow from."""

    row: SalesOrderRow
    tracking: str
    item_id: int
    held: Decimal
    picked: Decimal
    packed: Decimal
    delivered: Decimal
    shipped_serials: int

    @property
    def shipping(self) -> rules.RowShipping:
        return rules.RowShipping(self.row.quantity, self.packed, self.delivered)

    def facts(self) -> Any:
        """As a row of ``_ORDER_STATE`` (what ``write_tracing`` reads)."""
        r = self.row
        return _Facts(
            r.id,
            r.quantity,
            r.tracing_status,
            r.traced_quantity,
            r.missing_serial_numbers,
            self.tracking,
            self.held,
            self.picked,
            self.packed,
            self.delivered,
            self.shipped_serials,
        )


_Facts = namedtuple(
    "_Facts",
    "r_id r_quantity r_tracing_status r_traced_quantity r_missing_serial_numbers"
    " tracking held picked packed delivered shipped_serials",
)


@dataclass
class OrderState:
    """An order as one transaction read it (``order_state``); a use case that keeps
    its rows' facts up to date with what it writes can ``write`` the cache from them."""

    order: SalesOrder
    rows: dict[int, RowState]

    def write(self, session: Session) -> None:
        """The order's cached status from the kept facts where writers take turns (SQLite:
        nothing else changed them since they were read), else read again (``refresh``)."""
        if serialised(session):
            conn = ledger.connection(session)
            write_tracing(session, conn, self.order, [r.facts() for r in self.rows.values()])
        else:
            refresh(session, self.order)


def order_state(session: Session, order_id: Any, path: str = "sales_order_id") -> OrderState:
    """The order (refused as ``get`` refuses), its live rows and their facts: one read.

    The session gets the order and rows as ORM objects (no more SQL for them), and
    the webhook count, so events of a use case with no webhooks cost no SELECT.
    """
    conn = ledger.connection(session)
    oid = _as_int(order_id)
    found = conn.execute(_ORDER_STATE, {"oid": oid}).all() if oid is not None else []
    if not found or found[0].o_deleted_at is not None:
        get(session, SalesOrder, order_id, "Sales order", path=path)  # refuses
        found = conn.execute(_ORDER_STATE, {"oid": oid}).all()  # it appeared meanwhile
    head = found[0]._mapping
    order = attach(session, SalesOrder, {c.name: head[f"o_{c.name}"] for c in _orders.c})
    webhooks.prime(session, head["hooks"])
    rows: dict[int, RowState] = {}
    for f in found:
        m = f._mapping
        if m["r_id"] is None:
            continue
        row = attach(session, SalesOrderRow, {c.name: m[f"r_{c.name}"] for c in _rows.c})
        rows[row.id] = RowState(
            row,
            m["tracking"],
            m["item_id"],
            Decimal(m["held"] or 0),
            Decimal(m["picked"] or 0),
            Decimal(m["packed"] or 0),
            Decimal(m["delivered"] or 0),
            int(m["shipped_serials"] or 0),
        )
        session.info.setdefault(_FACTS, {}).setdefault(
            row.variant_id, VariantFacts(row.variant_id, m["item_id"], m["tracking"])
        )
    keep(session, order, *(r.row for r in rows.values()))
    return OrderState(order, rows)


def write_tracing(session: Session, conn: Connection, order: SalesOrder, found: Any) -> None:
    """Set rows' and the order's cached status from ``_ORDER_STATE`` rows (after writes)."""
    now = utcnow()
    ships, statuses, missing, changed = [], [], 0, []
    for f in found:
        if f.r_id is None:
            continue
        ship = rules.RowShipping(f.r_quantity, Decimal(f.packed or 0), Decimal(f.delivered or 0))
        assigned = Decimal(f.held or 0) if f.tracking == "serial" else Decimal(f.picked or 0)
        t = rules.row_tracing(
            f.tracking, f.r_quantity, assigned, ship.shipped, int(f.shipped_serials or 0)
        )
        if (f.r_tracing_status, f.r_traced_quantity, f.r_missing_serial_numbers) != (
            t.tracing_status,
            t.assigned,
            t.missing_serial_numbers,
        ):
            changed.append(
                {
                    "rid": f.r_id,
                    "ts": t.tracing_status,
                    "tq": t.assigned,
                    "ms": t.missing_serial_numbers,
                    "now": now,
                }
            )
        ships.append(ship)
        statuses.append(t.tracing_status)
        missing += t.missing_serial_numbers
    status = rules.order_status(ships, order.status)
    tracing = rules.order_tracing(statuses)
    if changed:
        conn.execute(_UPDATE_ROW_TRACING, changed)
    conn.execute(
        _UPDATE_ORDER_TRACING,
        {"oid": order.id, "st": status, "ts": tracing, "ms": missing, "now": now},
    )
    for attr, value in (
        ("status", status),
        ("tracing_status", tracing),
        ("missing_serial_numbers", missing),
        ("updated_at", now),
    ):
        set_committed_value(order, attr, value)
    for c in changed:
        row = session.identity_map.get(identity_key(SalesOrderRow, c["rid"]))
        if row is not None:
            for attr, key in (
                ("tracing_status", "ts"),
                ("traced_quantity", "tq"),
                ("missing_serial_numbers", "ms"),
                ("updated_at", "now"),
            ):
                set_committed_value(row, attr, c[key])


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
    held_now: int | None = None,
) -> list[int]:
    """Hold serials for the row (conditional, all or none); they join PACKED fulfilments.

    The serials are read once (variant, holder, status, hold) and every check
    runs on that read. ``while_shipping``: a fulfilment being created ships the
    serials at once, and its shipment holds them (``ledger.Hold``: the same
    conditional hold, in the shipment's statements); it refreshes the order once
    at its end, so this does not. ``held_now``: how many serials the row held
    when this transaction read it; where writers take turns (SQLite) that is
    still true, and the row is neither locked nor counted again. Returns the
    serials newly held (to be held by the shipment, while shipping).
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
    if held_now is None or not serialised(session):
        held_now = int(_assigned(session, row, "serial"))
    held = held_now
    if held + len(new) > quantity:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"The row needs {int(quantity)} "
            f"serial(s) and holds {held}; cannot add {len(new)}. Release some "
            "first or raise the quantity.",
            path=path,
        )
    _refuse_gone_or_held([found[i] for i in new], path)
    if while_shipping and len(new) <= CHUNK:
        pass  # held by the shipment (ship_serials' hold)
    else:
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
    at a time (BEGIN IMMEDIATE), so the row cannot change under this transaction
    and its quantity is the session's.
    """
    if serialised(session):
        return Decimal(row.quantity)
    quantity = session.scalar(
        select(SalesOrderRow.quantity).where(SalesOrderRow.id == row.id).with_for_update()
    )
    return Decimal(quantity if quantity is not None else row.quantity)


def serialised(session: Session) -> bool:
    """Whether write transactions take turns (SQLite's BEGIN IMMEDIATE): what one read
    at the start of the transaction saw stays true until it commits, but for its own writes."""
    return session.get_bind().dialect.name == "sqlite"


def serial_variant(session: Session, variant_id: int, path: str) -> VariantFacts:
    """``serials.serial_variant`` over the session's variant facts."""
    facts = variant_facts(session, variant_id, path)
    if facts.tracking != "serial":
        serials.serial_variant(session, variant_id, path)  # refuses with its message
    return facts


_SERIAL_CHECK = select(
    _serials.c.id,
    _serials.c.variant_id,
    _serials.c.serial_number,
    _serials.c.status,
    _serials.c.holder_type,
    _serials.c.holder_id,
    _serials.c.hold_reason,
)
_SERIALS_BY_ID = _SERIAL_CHECK.where(_serials.c.id.in_(bindparam("ids", expanding=True)))
SERIALS_BY_NUMBER = _SERIAL_CHECK.where(
    _serials.c.item_id == bindparam("item"),
    _serials.c.serial_number.in_(bindparam("numbers", expanding=True)),
)


def _check_of_variant(
    session: Session,
    variant_id: int,
    serial_ids: list[int],
    path: str,
    rows: Any = None,
) -> dict[int, Any]:
    """One read of the serials; refuse unknown ids and other variants' serials by name.

    ``rows``: the serials read already (``SERIALS_BY_NUMBER``), checked the same way.
    """
    if rows is None:
        rows = ledger.connection(session).execute(_SERIALS_BY_ID, {"ids": list(serial_ids)}).all()
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
    hold: list[int] | None = None,
) -> None:
    """Units leave stock on a fulfilment row (one movement), with the serials named.

    ``units`` is the quantity leaving: a short row ships its full quantity with
    fewer serials, so stock levels stay true. Serials named later for units that
    already left (``units`` 0) attach to the fulfilment without moving quantity.
    ``hold``: serials among them that ``assign_serials(while_shipping=True)``
    checked and left free: the row holds them as they leave.
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
                hold=ledger.Hold(ROW, row.id, hold, actor) if hold and len(hold) <= CHUNK else None,
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


def _held_elsewhere_stmt(some_batches: bool) -> Any:
    place = func.coalesce(_rows.c.location_id, _orders.c.location_id)
    shipped = (  # what the picking row has shipped of the picked batch (reverts net out)
        select(func.sum(_moves.c.quantity))
        .select_from(_frows)
        .join(
            _moves,
            (_moves.c.resource_type == FROW) & (_moves.c.resource_id == _frows.c.id),
        )
        .where(
            _frows.c.sales_order_row_id == _picks.c.resource_id,
            _moves.c.batch_id == _picks.c.batch_id,
        )
        .scalar_subquery()
    )
    stmt = (
        select(_picks.c.batch_id, _picks.c.quantity, shipped.label("shipped"))
        .join(_rows, _rows.c.id == _picks.c.resource_id)
        .join(_orders, _orders.c.id == _rows.c.sales_order_id)
        .where(
            _rows.c.variant_id == bindparam("variant"),
            _rows.c.id != bindparam("row"),
            _rows.c.deleted_at.is_(None),
            _orders.c.deleted_at.is_(None),
            place == bindparam("loc"),
        )
    )
    if some_batches:  # the picks of those batches (batch index), not every sales row's
        stmt = stmt.where(
            _picks.c.batch_id.in_(bindparam("batches", expanding=True)),
            ledger.unindexed(_picks.c.resource_type) == ROW,
        )
    else:
        stmt = stmt.where(_picks.c.resource_type == ROW)
    return stmt


_moves = table(Movement)
_HELD_ELSEWHERE = _held_elsewhere_stmt(False)
_HELD_ELSEWHERE_IN = _held_elsewhere_stmt(True)


def batches_held_elsewhere(
    session: Session,
    variant_id: int,
    location_id: int,
    row_id: int,
    *,
    batch_ids: list[int] | None = None,
) -> dict[int, Decimal]:
    """Per batch at the place: what other open sales rows picked and have not shipped.

    Batch picks hold stock the way serial holds do (SPEC §3), so neither the FEFO
    proposal nor another row may take it. One statement; ``batch_ids`` limits it
    to those batches (what the caller looks at), read through the picks' batch index.
    """
    params: dict[str, Any] = {"variant": variant_id, "row": row_id, "loc": location_id}
    if batch_ids is not None:
        if not batch_ids:
            return {}
        params["batches"] = batch_ids
    held: dict[int, Decimal] = defaultdict(Decimal)
    for bid, qty, shipped in ledger.connection(session).execute(
        _HELD_ELSEWHERE if batch_ids is None else _HELD_ELSEWHERE_IN, params
    ):
        if bid is not None:
            held[bid] += max(Decimal(0), Decimal(qty) + Decimal(shipped or 0))
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

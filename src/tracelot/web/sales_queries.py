"""Read models of the Sell screens: the order list and one order's rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Batch,
    BatchPick,
    Customer,
    Item,
    Location,
    OrderImport,
    SalesOrder,
    SalesOrderRow,
    Variant,
)
from tracelot.db.sql import AnySelect

ROW = "SalesOrderRow"
STATUSES = [
    "NOT_SHIPPED",
    "PENDING",
    "PARTIALLY_PACKED",
    "PACKED",
    "PARTIALLY_DELIVERED",
    "DELIVERED",
]


def order_list(q: str, status: str, tracing: str, channel: str) -> AnySelect:
    """Newest first; every filter is a column an index serves (status, tracing, the
    imports' (channel, id) key); only the free-text search scans."""
    query = (
        select(
            SalesOrder.id,
            SalesOrder.order_no,
            SalesOrder.status,
            SalesOrder.delivery_date,
            SalesOrder.order_created_date,
            SalesOrder.tracing_status,
            SalesOrder.missing_serial_numbers,
            SalesOrder.ecommerce_store_name,
            SalesOrder.ecommerce_order_type,
            Customer.name.label("customer"),
        )
        .join(Customer, Customer.id == SalesOrder.customer_id)
        .order_by(SalesOrder.id.desc())
    )
    return _filtered(query, q, status, tracing, channel)


def order_count(q: str, status: str, tracing: str, channel: str) -> AnySelect:
    """The list's COUNT without the customer join (every order has a customer), which
    SQLite would otherwise probe once per order; the search does not need it either."""
    query = select(func.count()).select_from(SalesOrder)
    return _filtered(query, q, status, tracing, channel)


def _filtered(query: AnySelect, q: str, status: str, tracing: str, channel: str) -> AnySelect:
    query = query.where(SalesOrder.deleted_at.is_(None))
    if q.strip():
        query = query.where(search(q.strip()))
    if status:
        query = query.where(SalesOrder.status == status)
    if tracing:
        query = query.where(SalesOrder.tracing_status == tracing)
    if channel == "local":
        query = query.where(SalesOrder.ecommerce_order_id.is_(None))
    elif channel:
        query = query.where(
            SalesOrder.id.in_(
                select(OrderImport.sales_order_id).where(OrderImport.channel == channel)
            )
        )
    return query


def search(text: str) -> Any:
    """Order number or customer name starting with the text.

    A prefix, not ``%text%``: the order number is a range of its index (as typed
    and upper-cased), the customer name a scan of the small customers table
    whose ids probe ``ix_sales_orders_customer_id``; a substring search read
    every order (and its COUNT every order again).
    """
    like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    ranges = [
        (SalesOrder.order_no >= t) & (SalesOrder.order_no < t + "\U0010ffff")
        for t in dict.fromkeys((text, text.upper()))
    ]
    return or_(
        *ranges,
        SalesOrder.customer_id.in_(
            select(Customer.id).where(Customer.name.ilike(like, escape="\\"))
        ),
    )


def channels(session: Session) -> list[str]:
    """The channels orders were imported from, read from the imports' unique
    (channel, external_id) index with a skip scan: one index probe per channel,
    never a pass over the orders (a DISTINCT over 50,000 orders was)."""
    seen = select(func.min(OrderImport.channel).label("ch")).cte("seen", recursive=True)
    step = (
        select(func.min(OrderImport.channel))
        .where(OrderImport.channel > seen.c.ch)
        .scalar_subquery()
    )
    seen = seen.union_all(select(step).where(seen.c.ch.is_not(None)))
    return [c for c in session.scalars(select(seen.c.ch)) if c]


def order_header(session: Session, order_id: int) -> Any:
    return session.execute(
        select(SalesOrder, Customer.name.label("customer"), Location.name.label("location"))
        .join(Customer, Customer.id == SalesOrder.customer_id)
        .join(Location, Location.id == SalesOrder.location_id)
        .where(SalesOrder.id == order_id, SalesOrder.deleted_at.is_(None))
    ).one_or_none()


def order_rows(session: Session, order_id: int) -> list[Any]:
    return list(
        session.execute(
            select(SalesOrderRow, Variant.sku, Item.name.label("item"), Item.tracking, Item.uom)
            .join(Variant, Variant.id == SalesOrderRow.variant_id)
            .join(Item, Item.id == Variant.item_id)
            .where(SalesOrderRow.sales_order_id == order_id, SalesOrderRow.deleted_at.is_(None))
            .order_by(SalesOrderRow.id)
        )
    )


def batch_picks(session: Session, row_ids: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for r in session.execute(
        select(
            BatchPick.resource_id,
            BatchPick.quantity,
            Batch.id,
            Batch.batch_number,
            Batch.expiration_date,
        )
        .join(Batch, Batch.id == BatchPick.batch_id)
        .where(BatchPick.resource_type == ROW, BatchPick.resource_id.in_(row_ids))
        .order_by(Batch.expiration_date, Batch.id)
    ):
        out.setdefault(r.resource_id, []).append(r)
    return out

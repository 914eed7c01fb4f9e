"""Sales orders, their rows and fulfilments, and the store orders imported once.

``status``, ``tracing_status`` and ``missing_serial_numbers`` on orders and
rows are caches recomputed by ``services.sales.refresh`` in the transaction
that changes them, so the order list can filter on them with an index.
``order_imports`` is its own table so that (channel, store order id) stays
unique even after the local order was deleted.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracelot.db.base import Base, Timestamps, utcnow


class SalesOrder(Timestamps, Base):
    __tablename__ = "sales_orders"
    __table_args__ = (
        Index("ix_sales_orders_tracing", "tracing_status", "id"),
        Index("ix_sales_orders_status", "status", "id"),
        # Live orders (deleted_at IS NULL), newest first: the list's page and its COUNT
        # (X-Pagination) read this index instead of the table.
        Index("ix_sales_orders_live", "deleted_at"),  # SQLite appends the id (rowid)
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    # NOT_SHIPPED | PENDING | PARTIALLY_PACKED | PACKED | PARTIALLY_DELIVERED | DELIVERED
    status: Mapped[str] = mapped_column(String(24), default="NOT_SHIPPED")
    order_created_date: Mapped[datetime] = mapped_column(default=utcnow)
    delivery_date: Mapped[datetime | None]
    picked_date: Mapped[datetime | None]
    customer_ref: Mapped[str | None] = mapped_column(String(128))
    additional_info: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str | None] = mapped_column(String(3))
    ecommerce_order_type: Mapped[str | None] = mapped_column(String(32))
    ecommerce_store_name: Mapped[str | None] = mapped_column(String(128))
    ecommerce_order_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # None: nothing to sync; "local_only": changed here after import, the store was not told
    store_sync: Mapped[str | None] = mapped_column(String(16))
    store_sync_note: Mapped[str | None] = mapped_column(Text)
    tracing_status: Mapped[str] = mapped_column(String(12), default="not_required")
    missing_serial_numbers: Mapped[int] = mapped_column(default=0)
    deleted_at: Mapped[datetime | None]


class SalesOrderRow(Timestamps, Base):
    __tablename__ = "sales_order_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    sales_order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), index=True)
    quantity: Mapped[Decimal]
    price_per_unit: Mapped[Decimal | None]
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    fulfilment: Mapped[str] = mapped_column(String(8), default="stock")  # stock | order
    # The manufacturing order made for this row (no FK: that table is another capability's)
    linked_manufacturing_order_id: Mapped[int | None] = mapped_column(index=True)
    tracing_status: Mapped[str] = mapped_column(String(12), default="not_required")
    traced_quantity: Mapped[Decimal] = mapped_column(default=Decimal(0))
    missing_serial_numbers: Mapped[int] = mapped_column(default=0)
    deleted_at: Mapped[datetime | None]


class SalesOrderFulfillment(Timestamps, Base):
    """A packing or a delivery of some rows; deleting it is a full revert."""

    __tablename__ = "sales_order_fulfillments"
    id: Mapped[int] = mapped_column(primary_key=True)
    sales_order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))  # PACKED | DELIVERED
    picked_date: Mapped[datetime | None]
    delivered_date: Mapped[datetime | None]
    tracking_number: Mapped[str | None] = mapped_column(String(128))
    tracking_url: Mapped[str | None] = mapped_column(String(512))
    tracking_carrier: Mapped[str | None] = mapped_column(String(128))
    tracking_method: Mapped[str | None] = mapped_column(String(128))
    deleted_at: Mapped[datetime | None]


class SalesOrderFulfillmentRow(Base):
    __tablename__ = "sales_order_fulfillment_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    fulfillment_id: Mapped[int] = mapped_column(
        ForeignKey("sales_order_fulfillments.id"), index=True
    )
    sales_order_row_id: Mapped[int] = mapped_column(ForeignKey("sales_order_rows.id"), index=True)
    quantity: Mapped[Decimal]


class OrderImport(Base):
    """One store order seen once: (channel, external id) never imported twice."""

    __tablename__ = "order_imports"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    external_name: Mapped[str | None] = mapped_column(String(128))
    sales_order_id: Mapped[int]  # no FK: the record outlives a deleted local order
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

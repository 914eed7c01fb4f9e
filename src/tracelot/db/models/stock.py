"""The ledger and what is derived from it: batches, serials, cached stock.

``movements`` is append-only (a revert writes new rows). ``serial_transactions``
is the per-serial ledger: +1 in, -1 out, 0 for a hold, tied to the movement
that carried the unit. ``stock`` and the serial ``status``/``location_id`` are
caches kept in the same transaction and checked against the ledger in tests.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tracelot.db.base import Base, BigId, Timestamps, utcnow


class Batch(Timestamps, Base):
    __tablename__ = "batches"
    __table_args__ = (
        UniqueConstraint("variant_id", "batch_number"),
        Index("ix_batches_variant_expiry", "variant_id", "expiration_date"),
        Index("ix_batches_number", "batch_number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    batch_number: Mapped[str] = mapped_column(String(64))
    expiration_date: Mapped[date | None]
    batch_created_date: Mapped[datetime | None]
    batch_barcode: Mapped[str | None] = mapped_column(String(40))
    supplier_lot: Mapped[str | None] = mapped_column(String(64))
    hold_reason: Mapped[str | None] = mapped_column(String(255))


class Serial(Timestamps, Base):
    """One unit. ``holder_*`` names the document row holding it (a reservation)."""

    __tablename__ = "serials"
    __table_args__ = (
        UniqueConstraint("item_id", "serial_number"),
        Index("ix_serials_picker", "variant_id", "location_id", "status", "serial_number"),
        Index("ix_serials_number", "serial_number"),
        # Held serials only: with the free ones in it, the planner's statistics lump every
        # NULL holder together and it scans all serials for a page of rows' holds.
        Index(
            "ix_serials_holder",
            "holder_type",
            "holder_id",
            sqlite_where=text("holder_type IS NOT NULL"),
            postgresql_where=text("holder_type IS NOT NULL"),
        ),
        Index(
            "ix_serials_on_hold",
            "variant_id",
            sqlite_where=text("hold_reason IS NOT NULL"),
            postgresql_where=text("hold_reason IS NOT NULL"),
        ),  # tracing issues
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    serial_number: Mapped[str] = mapped_column(String(32))
    # pending | in_stock | reserved | in_transit | delivered | consumed | removed
    status: Mapped[str] = mapped_column(String(12), default="pending")
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    holder_type: Mapped[str | None] = mapped_column(String(32))
    holder_id: Mapped[int | None]
    hold_reason: Mapped[str | None] = mapped_column(String(255))


class Movement(Base):
    """One signed quantity change of a variant (and batch) at a location."""

    __tablename__ = "movements"
    __table_args__ = (
        Index("ix_movements_variant_location", "variant_id", "location_id", "id"),
        Index("ix_movements_resource", "resource_type", "resource_id"),
        Index("ix_movements_batch", "batch_id", "id"),
        # A lot's movements with what traces group them by (document row, reason) and sum:
        # shipment/origin lines and the recall's mass balance read this index alone, the
        # lines grouped per lot and document row in its order (no sort).
        Index(
            "ix_movements_batch_lines",
            "batch_id",
            "resource_type",
            "resource_id",
            "reason",
            "quantity",
            "id",
            sqlite_where=text("batch_id IS NOT NULL"),
            postgresql_where=text("batch_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    quantity: Mapped[Decimal]
    balance_after: Mapped[Decimal]
    cost_per_unit: Mapped[Decimal | None]
    # receipt | production | consumption | delivery | adjustment | transfer | return
    # | revert | tracking_change
    reason: Mapped[str] = mapped_column(String(16))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[int] = mapped_column(BigId)
    document: Mapped[str | None] = mapped_column(String(64))
    caused_by_order_no: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[str] = mapped_column(String(128))
    movement_date: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SerialTransaction(Base):
    """A serial's link to a document row: +1 in, -1 out, 0 hold (KATANA_API.md §3)."""

    __tablename__ = "serial_transactions"
    __table_args__ = (
        Index("ix_serial_transactions_serial", "serial_id", "id"),
        # A unit's steps with what traces group them by and sum (shipment/origin lines,
        # the recall's mass balance), read from the index alone.
        Index(
            "ix_serial_transactions_lines",
            "serial_id",
            "resource_type",
            "resource_id",
            "reason",
            "quantity_change",
            "movement_id",
            "is_active",
        ),
        Index("ix_serial_transactions_resource", "resource_type", "resource_id"),
        Index("ix_serial_transactions_movement", "movement_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial_id: Mapped[int] = mapped_column(BigId, ForeignKey("serials.id"))
    movement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("movements.id"))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[int] = mapped_column(BigId)
    quantity_change: Mapped[int]
    is_active: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str | None] = mapped_column(String(16))
    user: Mapped[str | None] = mapped_column(String(128))
    transaction_date: Mapped[datetime] = mapped_column(default=utcnow)


class Stock(Base):
    """Cached quantity per (variant, location, batch); ``batch_key`` is 0 for no batch."""

    __tablename__ = "stock"
    __table_args__ = (
        UniqueConstraint("variant_id", "location_id", "batch_key"),
        Index("ix_stock_batch", "batch_id"),
        # Stock on hand only (tracing issues read live stock, never the depleted rows)
        Index(
            "ix_stock_on_hand",
            "batch_id",
            "variant_id",
            "location_id",
            sqlite_where=text("quantity > 0"),
            postgresql_where=text("quantity > 0"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    batch_key: Mapped[int]
    quantity: Mapped[Decimal]


class BatchPick(Base):
    """A batch and quantity chosen for a document row before stock moves."""

    __tablename__ = "batch_picks"
    __table_args__ = (
        Index("ix_batch_picks_resource", "resource_type", "resource_id"),
        Index("ix_batch_picks_batch", "batch_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[int] = mapped_column(BigId)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    quantity: Mapped[Decimal]


class StockAdjustment(Timestamps, Base):
    __tablename__ = "stock_adjustments"
    id: Mapped[int] = mapped_column(primary_key=True)
    stock_adjustment_number: Mapped[str] = mapped_column(String(64), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    stock_adjustment_date: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(255))
    additional_info: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None]


class StockAdjustmentRow(Base):
    __tablename__ = "stock_adjustment_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    stock_adjustment_id: Mapped[int] = mapped_column(ForeignKey("stock_adjustments.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[Decimal]
    cost_per_unit: Mapped[Decimal | None]
    connects_existing: Mapped[bool] = mapped_column(default=False)


class StockTransfer(Timestamps, Base):
    __tablename__ = "stock_transfers"
    id: Mapped[int] = mapped_column(primary_key=True)
    stock_transfer_number: Mapped[str] = mapped_column(String(64), index=True)
    source_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    target_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    transfer_date: Mapped[datetime | None]
    expected_arrival_date: Mapped[datetime | None]
    additional_info: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None]


class StockTransferRow(Base):
    __tablename__ = "stock_transfer_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    stock_transfer_id: Mapped[int] = mapped_column(ForeignKey("stock_transfers.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[Decimal]


class TrackingArchive(Base):
    """The CSV written before an item's tracking records are removed."""

    __tablename__ = "tracking_archives"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    item_name: Mapped[str] = mapped_column(String(255))
    tracking: Mapped[str] = mapped_column(String(8))
    record_count: Mapped[int]
    file_name: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    user: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

"""Purchase orders, their rows, and the receipts that bring stock in.

A receipt is its own record (one per received row quantity) so that it can be
reverted on its own; ``purchase_receipt_movements`` keeps the ledger movements
it wrote, which is what a revert reverses.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tracelot.db.base import Base, BigId, Timestamps, utcnow


class PurchaseOrder(Timestamps, Base):
    __tablename__ = "purchase_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    # DRAFT | NOT_RECEIVED | PARTIALLY_RECEIVED | RECEIVED
    status: Mapped[str] = mapped_column(String(20), default="NOT_RECEIVED")
    currency: Mapped[str | None] = mapped_column(String(3))
    expected_arrival_date: Mapped[datetime | None]
    order_created_date: Mapped[datetime] = mapped_column(default=utcnow)
    received_date: Mapped[datetime | None]
    additional_info: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None]


class PurchaseOrderRow(Timestamps, Base):
    __tablename__ = "purchase_order_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), index=True)
    quantity: Mapped[Decimal]
    received_quantity: Mapped[Decimal] = mapped_column(default=Decimal(0))
    price_per_unit: Mapped[Decimal | None]
    arrival_date: Mapped[datetime | None]
    received_date: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class PurchaseReceipt(Base):
    """One receipt of (part of) a PO row; ``reverted_at`` set once it was undone."""

    __tablename__ = "purchase_receipts"
    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    purchase_order_row_id: Mapped[int] = mapped_column(
        ForeignKey("purchase_order_rows.id"), index=True
    )
    quantity: Mapped[Decimal]
    received_date: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[str] = mapped_column(String(128))
    reverted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PurchaseReceiptMovement(Base):
    """The movements a receipt wrote (what its revert reverses)."""

    __tablename__ = "purchase_receipt_movements"
    __table_args__ = (Index("ix_purchase_receipt_movements_receipt", "receipt_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("purchase_receipts.id"))
    movement_id: Mapped[int] = mapped_column(BigId, ForeignKey("movements.id"))

"""Items, variants, locations and the parties stock goes to and comes from."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracelot.db.base import Base, Timestamps


class Item(Timestamps, Base):
    """A product or a material; its tracking applies to all its variants."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))  # product | material
    tracking: Mapped[str] = mapped_column(String(8), default="none")
    uom: Mapped[str] = mapped_column(String(32), default="pcs")
    category_name: Mapped[str | None] = mapped_column(String(255))
    is_sellable: Mapped[bool] = mapped_column(default=True)
    is_producible: Mapped[bool] = mapped_column(default=False)
    is_purchasable: Mapped[bool] = mapped_column(default=True)
    is_archived: Mapped[bool] = mapped_column(default=False)
    additional_info: Mapped[str | None] = mapped_column(Text)
    serial_pattern: Mapped[str | None] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None]
    variants: Mapped[list[Variant]] = relationship(
        back_populates="item", order_by="Variant.id", lazy="selectin"
    )


class Variant(Timestamps, Base):
    __tablename__ = "variants"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    sku: Mapped[str | None] = mapped_column(String(128), unique=True)
    gtin: Mapped[str | None] = mapped_column(String(14), index=True)
    internal_barcode: Mapped[str | None] = mapped_column(String(128))
    registered_barcode: Mapped[str | None] = mapped_column(String(128), index=True)
    supplier_item_codes: Mapped[str | None] = mapped_column(String(255))
    sales_price: Mapped[Decimal | None]
    purchase_price: Mapped[Decimal | None]
    deleted_at: Mapped[datetime | None]
    item: Mapped[Item] = relationship(back_populates="variants", lazy="joined")


class Location(Timestamps, Base):
    """A warehouse or shelf; carries a full description for FSMA 204 and EPCIS."""

    __tablename__ = "locations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    legal_name: Mapped[str | None] = mapped_column(String(255))
    is_primary: Mapped[bool] = mapped_column(default=False)
    sales_allowed: Mapped[bool] = mapped_column(default=True)
    purchase_allowed: Mapped[bool] = mapped_column(default=True)
    manufacturing_allowed: Mapped[bool] = mapped_column(default=True)
    line_1: Mapped[str | None] = mapped_column(String(255))
    line_2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str | None] = mapped_column(String(128))
    zip: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(64))
    gln: Mapped[str | None] = mapped_column(String(13))
    deleted_at: Mapped[datetime | None]


class Customer(Timestamps, Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(255), index=True)
    phone: Mapped[str | None] = mapped_column(String(64))
    company: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str | None] = mapped_column(String(3))
    reference_id: Mapped[str | None] = mapped_column(String(128), index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None]
    addresses: Mapped[list[CustomerAddress]] = relationship(
        back_populates="customer",
        order_by="CustomerAddress.id",
        lazy="selectin",
        cascade="all, delete-orphan",
    )


class CustomerAddress(Timestamps, Base):
    __tablename__ = "customer_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    entity_type: Mapped[str] = mapped_column(String(16))  # billing | shipping
    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    company: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    line_1: Mapped[str | None] = mapped_column(String(255))
    line_2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str | None] = mapped_column(String(128))
    zip: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(64))
    gln: Mapped[str | None] = mapped_column(String(13))  # ship-to GLN (FSMA 204, EPCIS)
    customer: Mapped[Customer] = relationship(back_populates="addresses")


class Supplier(Timestamps, Base):
    __tablename__ = "suppliers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(3))
    comment: Mapped[str | None] = mapped_column(Text)
    line_1: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str | None] = mapped_column(String(128))
    zip: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(64))
    gln: Mapped[str | None] = mapped_column(String(13))
    deleted_at: Mapped[datetime | None]


Index("ix_variants_item_sku", Variant.item_id, Variant.sku)

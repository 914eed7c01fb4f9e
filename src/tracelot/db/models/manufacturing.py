"""Recipes, manufacturing orders, productions, and the number counters.

``recipe_rows`` is the bill of materials of a product variant; an MO copies it
into its own ``manufacturing_order_recipe_rows`` (which may then differ).
A production records what was made; ``production_ingredients`` what it took
(one row per recipe row, its movements carry the batches and serials).
``number_counters`` hands out sequence numbers atomically (serial patterns).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracelot.db.base import Base, Timestamps


class RecipeRow(Timestamps, Base):
    __tablename__ = "recipe_rows"
    __table_args__ = (UniqueConstraint("product_variant_id", "ingredient_variant_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    ingredient_variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[Decimal]
    notes: Mapped[str | None] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(default=0)


class ManufacturingOrder(Timestamps, Base):
    __tablename__ = "manufacturing_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    planned_quantity: Mapped[Decimal]
    completed_quantity: Mapped[Decimal] = mapped_column(default=Decimal(0))
    # NOT_STARTED | BLOCKED | IN_PROGRESS | PARTIALLY_COMPLETED | DONE
    status: Mapped[str] = mapped_column(String(20), default="NOT_STARTED")
    order_created_date: Mapped[datetime]
    production_deadline_date: Mapped[datetime | None]
    done_date: Mapped[datetime | None]
    additional_info: Mapped[str | None] = mapped_column(Text)
    sales_order_id: Mapped[int | None] = mapped_column(index=True)
    sales_order_row_id: Mapped[int | None] = mapped_column(unique=True)
    parent_manufacturing_order_id: Mapped[int | None] = mapped_column(index=True)
    deleted_at: Mapped[datetime | None]


class ManufacturingOrderRecipeRow(Timestamps, Base):
    __tablename__ = "manufacturing_order_recipe_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    manufacturing_order_id: Mapped[int] = mapped_column(
        ForeignKey("manufacturing_orders.id"), index=True
    )
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    planned_quantity_per_unit: Mapped[Decimal]
    consumed_quantity: Mapped[Decimal] = mapped_column(default=Decimal(0))
    notes: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None]


class Production(Timestamps, Base):
    __tablename__ = "productions"
    id: Mapped[int] = mapped_column(primary_key=True)
    manufacturing_order_id: Mapped[int] = mapped_column(
        ForeignKey("manufacturing_orders.id"), index=True
    )
    completed_quantity: Mapped[Decimal]
    completed_date: Mapped[datetime]
    is_final: Mapped[bool] = mapped_column(default=False)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    user: Mapped[str] = mapped_column(String(128))
    deleted_at: Mapped[datetime | None]


class ProductionIngredient(Base):
    __tablename__ = "production_ingredients"
    id: Mapped[int] = mapped_column(primary_key=True)
    production_id: Mapped[int] = mapped_column(ForeignKey("productions.id"), index=True)
    recipe_row_id: Mapped[int | None] = mapped_column(
        ForeignKey("manufacturing_order_recipe_rows.id")
    )
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[Decimal]


class NumberCounter(Base):
    """The last sequence number handed out per key (e.g. ``serial:7:SN-2026-``)."""

    __tablename__ = "number_counters"
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)

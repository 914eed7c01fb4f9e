"""Which batches/serials went into which: the links a recall trace walks.

One row per (output, input) pair of a production: the output is a batch or a
serial of the produced variant, the input a batch or serial (or untracked
quantity, both ids null) of an ingredient. Trace queries walk it with
recursive CTEs in both directions, each direction served by its own index.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tracelot.db.base import Base, BigId, utcnow


class Genealogy(Base):
    __tablename__ = "genealogy"
    __table_args__ = (
        # Each end's index carries the other end's ids and product, so a trace step reads
        # the index alone, never the table (a third of a forward trace at full scale).
        Index(
            "ix_genealogy_output_batch",
            "output_batch_id",
            "input_batch_id",
            "input_serial_id",
            "input_variant_id",
        ),
        Index(
            "ix_genealogy_output_serial",
            "output_serial_id",
            "input_batch_id",
            "input_serial_id",
            "input_variant_id",
        ),
        Index(
            "ix_genealogy_input_batch",
            "input_batch_id",
            "output_batch_id",
            "output_serial_id",
            "output_variant_id",
        ),
        # Partial: most rows have no input serial, and SQLite's statistics count NULLs as
        # one value, so a full index looked useless and traces scanned genealogy per node.
        Index(
            "ix_genealogy_input_serial",
            "input_serial_id",
            "output_batch_id",
            "output_serial_id",
            "output_variant_id",
            sqlite_where=text("input_serial_id IS NOT NULL"),
            postgresql_where=text("input_serial_id IS NOT NULL"),
        ),
        Index("ix_genealogy_resource", "resource_type", "resource_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    output_variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    output_batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    output_serial_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("serials.id"))
    input_variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    input_batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    input_serial_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("serials.id"))
    quantity: Mapped[Decimal]
    resource_type: Mapped[str] = mapped_column(String(32), default="Production")
    resource_id: Mapped[int] = mapped_column(BigId)
    manufacturing_order_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

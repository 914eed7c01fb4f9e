"""Builders for test scenarios, through the services (never raw inserts)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tracelot.db.engine import transaction
from tracelot.db.models import (
    Batch,
    Item,
    Location,
    Movement,
    Serial,
    SerialTransaction,
    Stock,
    StockAdjustment,
    StockAdjustmentRow,
    TrackingArchive,
)
from tracelot.services import adjustments, catalog, fulfillments, sales


@dataclass
class World:
    """A tiny factory: a location, and helpers to make items and stock."""

    sessions: sessionmaker[Session]
    location_id: int = 0

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with transaction(self.sessions) as s:
            yield s

    def setup(self) -> World:
        with self.tx() as s:
            self.location_id = catalog.save_location(s, None, {"name": "Main"}).id
        return self

    def location(self, name: str) -> int:
        with self.tx() as s:
            return catalog.save_location(s, None, {"name": name}).id

    def item(
        self,
        name: str,
        tracking: str = "none",
        kind: str = "product",
        skus: tuple[str, ...] | None = None,
    ) -> tuple[int, list[int]]:
        with self.tx() as s:
            item = catalog.create_item(
                s,
                kind,
                {
                    "name": name,
                    "tracking": tracking,
                    "variants": [{"sku": sku} for sku in (skus or (name.upper() + "-1",))],
                },
            )
            return item.id, [v.id for v in item.variants]

    def adjust(self, rows: list[dict[str, Any]], location_id: int | None = None) -> int:
        with self.tx() as s:
            return adjustments.create(
                s,
                {"location_id": location_id or self.location_id, "stock_adjustment_rows": rows},
                "test",
            ).id


def ledger_snapshot(session: Session) -> tuple[Any, ...]:
    """Everything a refused request must leave unchanged: a stray write changes a count."""
    counted = (
        Movement,
        SerialTransaction,
        Serial,
        Batch,
        StockAdjustment,
        StockAdjustmentRow,
        TrackingArchive,
    )
    return (
        tuple(
            (model.__name__, session.scalar(select(func.count()).select_from(model)))
            for model in counted
        ),
        tuple(
            session.execute(
                select(Serial.id, Serial.status, Serial.location_id).order_by(Serial.id)
            )
        ),
        tuple(
            session.execute(
                select(
                    Stock.variant_id, Stock.location_id, Stock.batch_key, Stock.quantity
                ).order_by(Stock.id)
            ).all()
        ),
        session.scalar(select(func.count()).select_from(Item)),
        session.scalar(select(func.count()).select_from(Location)),
    )


def check_ledger(session: Session) -> None:
    """Cached stock and serial state equal what the ledger says; no serial in stock twice."""
    ledger = dict(
        ((r.variant_id, r.location_id, r.batch_id or 0), Decimal(r.q))
        for r in session.execute(
            select(
                Movement.variant_id,
                Movement.location_id,
                Movement.batch_id,
                func.sum(Movement.quantity).label("q"),
            ).group_by(Movement.variant_id, Movement.location_id, Movement.batch_id)
        )
    )
    cache = {
        (r.variant_id, r.location_id, r.batch_key): Decimal(r.quantity)
        for r in session.execute(
            select(Stock.variant_id, Stock.location_id, Stock.batch_key, Stock.quantity)
        )
    }
    keys = set(ledger) | set(cache)
    for k in keys:
        assert abs(ledger.get(k, Decimal(0)) - cache.get(k, Decimal(0))) < Decimal("1e-6"), k
    sums = dict(
        session.execute(
            select(
                SerialTransaction.serial_id, func.sum(SerialTransaction.quantity_change)
            ).group_by(SerialTransaction.serial_id)
        ).all()
    )
    for s in session.scalars(select(Serial)):
        on_hand = s.status in ("in_stock", "reserved")
        assert sums.get(s.id, 0) == (1 if on_hand else 0), (s.serial_number, s.status)
        assert (s.location_id is not None) == on_hand, s.serial_number
    # Serials on hand per place (cache) equal the serial ledger's sum at that place.
    cached = dict(
        ((r.variant_id, r.location_id), r.n)
        for r in session.execute(
            select(Serial.variant_id, Serial.location_id, func.count().label("n"))
            .where(Serial.status.in_(("in_stock", "reserved")))
            .group_by(Serial.variant_id, Serial.location_id)
        )
    )
    ledgered = {
        (r.variant_id, r.location_id): int(r.n)
        for r in session.execute(
            select(
                Movement.variant_id,
                Movement.location_id,
                func.sum(SerialTransaction.quantity_change).label("n"),
            )
            .join(Movement, Movement.id == SerialTransaction.movement_id)
            .group_by(Movement.variant_id, Movement.location_id)
        )
        if int(r.n)
    }
    assert cached == ledgered, (cached, ledgered)


def shipped_without_serials(w: World) -> tuple[int, int, str]:
    """An order that delivered 3 grinders with only one serial (2 missing): its id, its
    row's id and its number."""
    _, (vid,) = w.item("Grinder", "serial")
    w.adjust([{"variant_id": vid, "quantity": 5, "serial_numbers": ["G-1..G-5"]}])
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Ada"}).id
        order = sales.create_order(
            s, {"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": 3}]}, "t"
        )
        row = sales.live_rows(s, order.id)[0]
        g1 = s.scalar(select(Serial.id).where(Serial.serial_number == "G-1"))
        fulfillments.create(
            s,
            {
                "sales_order_id": order.id,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [
                    {"sales_order_row_id": row.id, "quantity": 3, "serial_numbers": [g1]}
                ],
            },
            "t",
        )
        return order.id, row.id, order.order_no

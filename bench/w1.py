"""W1 through the service layer: each step is the use-case function a request would call.

Every receipt and every order is its own transaction (``transaction()``), as
one API request would be; nothing here skips a rule.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, select

import tracelot.db.models  # noqa: F401
from bench import sales_steps
from bench.common import Run, Sizes, database_name, db_size_mib, sample, timed
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, make_sessionmaker, transaction
from tracelot.db.models import Batch, Serial
from tracelot.services import adjustments, catalog, tracing


class ServiceW1:
    def __init__(self, url: str, sizes: Sizes) -> None:
        self.url, self.sizes = url, sizes
        self.engine: Engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.run = Run("services", database_name(self.engine))
        self.loc, self.customer, self.s_var, self.b_var = set_up(self.sessions)

    def receive_serials(self) -> None:
        s = self.sizes
        with timed("receive-serials", s.serials, "serials", self.run):
            for r in range(s.receipts):
                with transaction(self.sessions) as db:
                    adjustments.create(db, serial_receipt(self.loc, self.s_var, s, r), "bench")

    def receive_batches(self) -> None:
        s = self.sizes
        with (
            timed("receive-batches", s.batches * s.batch_units, "units", self.run),
            transaction(self.sessions) as db,
        ):
            adjustments.create(db, batch_receipt(self.loc, self.b_var, s), "bench")

    def sell_serials(self) -> None:
        self._sell("sell-serials", self.s_var, self.sizes.serials_per_order)

    def sell_batches(self) -> None:
        self._sell("sell-batches", self.b_var, self.sizes.batch_units_per_order)

    def _sell(self, name: str, variant: int, qty: int) -> None:
        steps = sales_steps.service_steps()
        if steps is None:
            self.run.notes.append(f"{name}: skipped, services/sales.py has no sell steps yet")
            return
        with timed(name, self.sizes.orders, "orders", self.run):
            for _ in range(self.sizes.orders):
                with transaction(self.sessions) as db:
                    steps(db, self.customer, self.loc, variant, qty)

    def trace(self) -> None:
        with transaction(self.sessions) as db:
            serial_ids, batch_ids = trace_targets(db, self.sizes)
        with timed(
            "trace",
            len(serial_ids) + len(batch_ids),
            "queries",
            self.run,
            note="tracing.trace forward",
        ) as phase:
            phase.latencies_ms["serial"] = sample(self._forward("serial"), serial_ids)
            phase.latencies_ms["batch"] = sample(self._forward("batch"), batch_ids)

    def _forward(self, kind: str) -> Any:
        def one(node_id: int) -> list[dict[str, Any]]:
            with transaction(self.sessions) as db:
                node = (
                    tracing.Node(serial_id=node_id)
                    if kind == "serial"
                    else tracing.Node(batch_id=node_id)
                )
                return tracing.trace(db, [node], "forward").events

        return one

    def all(self) -> Run:
        for phase in (
            self.receive_serials,
            self.receive_batches,
            self.sell_serials,
            self.sell_batches,
            self.trace,
        ):
            phase()
        self.run.db_size_mib = db_size_mib(self.engine, self.url)
        self.engine.dispose()
        return self.run


def set_up(sessions: Any) -> tuple[int, int, int, int]:
    """W1's set-up (not timed): a location, a customer, products S and B."""
    with transaction(sessions) as s:
        loc = catalog.save_location(s, None, {"name": "Main"}).id
        customer = catalog.save_customer(s, None, {"name": "Customer"}).id
        s_item = catalog.create_item(
            s, "product", {"name": "S", "tracking": "serial", "variants": [{"sku": "S-1"}]}
        )
        b_item = catalog.create_item(
            s, "product", {"name": "B", "tracking": "batch", "variants": [{"sku": "B-1"}]}
        )
        return loc, customer, s_item.variants[0].id, b_item.variants[0].id


def serial_receipt(loc: int, variant: int, s: Sizes, r: int) -> dict[str, Any]:
    first = r * s.serials_per_receipt + 1
    return {
        "location_id": loc,
        "stock_adjustment_rows": [
            {
                "variant_id": variant,
                "quantity": s.serials_per_receipt,
                "serial_numbers": [
                    f"SN-{i:06d}" for i in range(first, first + s.serials_per_receipt)
                ],
            }
        ],
    }


def batch_receipt(loc: int, variant: int, s: Sizes, as_json: bool = False) -> dict[str, Any]:
    """One receipt of every batch; dates as the API takes them (ISO text) or as objects."""
    today = date.today()
    return {
        "location_id": loc,
        "stock_adjustment_rows": [
            {
                "variant_id": variant,
                "quantity": s.batches * s.batch_units,
                "batch_transactions": [
                    {
                        "batch_number": f"LOT-{i:04d}",
                        "quantity": s.batch_units,
                        "expiration_date": _day(
                            today + timedelta(days=round(730 * i / s.batches)), as_json
                        ),
                    }
                    for i in range(1, s.batches + 1)
                ],
            }
        ],
    }


def _day(d: date, as_json: bool) -> date | str:
    return d.isoformat() if as_json else d


def trace_targets(db: Any, s: Sizes) -> tuple[list[int], list[int]]:
    """W1 phase 5's sample: delivered serials and batches chosen with seed 42."""
    rnd = random.Random(s.seed)
    delivered = list(
        db.scalars(
            select(Serial.id).where(Serial.status == "delivered").order_by(Serial.serial_number)
        )
    )
    if not delivered:  # nothing sold yet (no sales service): trace in-stock serials instead
        delivered = list(db.scalars(select(Serial.id).order_by(Serial.serial_number)))
    lots = list(db.scalars(select(Batch.id).order_by(Batch.batch_number)))
    return (
        rnd.sample(delivered, min(s.trace_serials, len(delivered))),
        rnd.sample(lots, min(s.trace_batches, len(lots))),
    )


def run(url: str, sizes: Sizes) -> Run:
    return ServiceW1(url, sizes).all()

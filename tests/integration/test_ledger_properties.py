"""Random sequences of stock operations keep the caches equal to the ledger (acceptance 4).

After every step — whether it succeeded or was refused — cached stock equals
the sum of movements, every serial's transactions sum to 1 exactly when it is
on hand, and no serial is in stock twice; a refused step changed nothing.
Tracking changes act on all three items, whatever their mode at that point
(SPEC §1): batch <-> serial is refused, tracked -> none (confirmed) archives
then removes the records, none -> batch moves the stock to unbatched.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.models import Batch, Item, Serial, Stock, StockTransfer, TrackingArchive
from tracelot.domain.errors import TracelotError
from tracelot.services import catalog, transfers

_ids = itertools.count()

ops = st.lists(
    st.one_of(
        st.tuples(st.just("plain"), st.integers(0, 1), st.integers(-6, 6)),
        st.tuples(st.just("batch"), st.integers(0, 1), st.integers(-6, 6), st.integers(0, 2)),
        st.tuples(st.just("serial_in"), st.integers(0, 1), st.integers(1, 3)),
        st.tuples(st.just("serial_out"), st.integers(0, 1), st.integers(1, 2)),
        st.tuples(
            st.just("transfer"),
            st.sampled_from(["plain", "batch", "serial"]),
            st.integers(0, 1),
            st.integers(1, 3),
            st.sampled_from(["inTransit", "received"]),
        ),
        st.tuples(
            st.just("track"),
            st.sampled_from(["plain", "batch", "serial"]),
            st.sampled_from(["none", "batch", "serial"]),
        ),
    ),
    min_size=1,
    max_size=10,
)


class Scenario:
    def __init__(self, sessions) -> None:  # type: ignore[no-untyped-def]
        n = next(_ids)
        self.w = World(sessions)
        self.locs = [self.w.location(f"L{n}-a"), self.w.location(f"L{n}-b")]
        self.w.location_id = self.locs[0]
        self.plain_item = self.w.item(f"P{n}", skus=(f"P{n}",))
        self.batch_item = self.w.item(f"B{n}", "batch", skus=(f"B{n}",))
        self.serial_item = self.w.item(f"S{n}", "serial", skus=(f"S{n}",))
        self.n = n
        self.minted = 0
        # Some stock of each kind from the start, so tracking changes meet stock and records.
        self.plain(0, 3)
        self.batch(0, 4, 0)
        self.serial_in(0, 2)
        self.before: tuple[object, ...] = ()  # ledger_snapshot before the step's last transaction

    def run(self, op: tuple) -> None:  # type: ignore[type-arg]
        kind, *args = op
        getattr(self, kind)(*args)

    def plain(self, loc: int, qty: int) -> None:
        if qty:
            self.w.adjust([{"variant_id": self.plain_item[1][0], "quantity": qty}], self.locs[loc])

    def batch(self, loc: int, qty: int, lot: int) -> None:
        if qty:
            self.w.adjust(
                [
                    {
                        "variant_id": self.batch_item[1][0],
                        "quantity": qty,
                        "batch_transactions": [{"batch_number": f"LOT{lot}", "quantity": abs(qty)}],
                    }
                ],
                self.locs[loc],
            )

    def serial_in(self, loc: int, count: int) -> None:
        numbers = [f"N{self.n}-{self.minted + i}" for i in range(count)]
        self.minted += count
        self.w.adjust(
            [{"variant_id": self.serial_item[1][0], "quantity": count, "serial_numbers": numbers}],
            self.locs[loc],
        )

    def serial_out(self, loc: int, count: int) -> None:
        with self.w.tx() as s:
            numbers = list(
                s.scalars(
                    select(Serial.serial_number)
                    .where(
                        Serial.variant_id == self.serial_item[1][0],
                        Serial.location_id == self.locs[loc],
                        Serial.status == "in_stock",
                    )
                    .order_by(Serial.id)
                    .limit(count)
                )
            )
        self.w.adjust(
            [{"variant_id": self.serial_item[1][0], "quantity": -count, "serial_numbers": numbers}],
            self.locs[loc],
        )

    def transfer(self, kind: str, src: int, qty: int, status: str) -> None:
        item = {"plain": self.plain_item, "batch": self.batch_item, "serial": self.serial_item}[
            kind
        ]
        row: dict[str, object] = {"variant_id": item[1][0], "quantity": qty}
        with self.w.tx() as s:
            if kind == "batch":
                row["batch_transactions"] = [{"batch_id": self._some_batch(s), "quantity": qty}]
            if kind == "serial":
                row["serial_numbers"] = list(
                    s.scalars(
                        select(Serial.serial_number)
                        .where(
                            Serial.variant_id == item[1][0],
                            Serial.location_id == self.locs[src],
                            Serial.status == "in_stock",
                        )
                        .limit(qty)
                    )
                )
        with self.w.tx() as s:
            tr = transfers.create(
                s,
                {
                    "source_location_id": self.locs[src],
                    "target_location_id": self.locs[1 - src],
                    "stock_transfer_rows": [row],
                },
                "prop",
            )
            tr_id = tr.id
        with self.w.tx() as s:  # created: a refused status change must leave it as it is
            self.before = ledger_snapshot(s)
        with self.w.tx() as s:
            transfers.set_status(s, s.get(StockTransfer, tr_id), status, "prop")

    def _some_batch(self, s) -> int | None:  # type: ignore[no-untyped-def]
        from tracelot.db.models import Batch

        return s.scalar(select(Batch.id).where(Batch.variant_id == self.batch_item[1][0]).limit(1))

    def track(self, target: str, mode: str) -> None:
        item_id, vids = {"plain": self.plain_item, "batch": self.batch_item}.get(
            target, self.serial_item
        )
        with self.w.tx() as s:
            item = s.get(Item, item_id)
            was = item.tracking
            before = ledger_snapshot(s)
            stock_before = _stock(s, vids)
            had_records = bool(_records(s, item_id, vids))
            archives = _archives(s, item_id)
            try:
                catalog.update_item(
                    s, item, {"tracking": mode, "confirm_remove_tracking": True}, "prop"
                )
            except TracelotError as exc:
                event(f"track {was} -> {mode}: refused")
                s.flush()  # a refusal wrote nothing, even before its transaction rolls back
                assert ledger_snapshot(s) == before and item.tracking == was
                assert {was, mode} == {"batch", "serial"}, exc.code
                assert exc.code == "TRACKING_SWITCH_REFUSED"
                raise
            event(f"track {was} -> {mode}")
            assert {was, mode} != {"batch", "serial"}, "batch <-> serial must be refused"
            assert item.tracking == mode
            if mode == "none" and was != "none":
                assert _records(s, item_id, vids) == 0
                assert _archives(s, item_id) == archives + (1 if had_records else 0)
                assert _stock(s, vids) == _unbatched(stock_before)
            elif was == "none" and mode == "batch":
                assert _stock(s, vids) == stock_before  # all of it unbatched (key 0)
            elif was == mode:
                assert ledger_snapshot(s) == before


def _unbatched(stock: dict[tuple[int, int, int], Any]) -> dict[tuple[int, int, int], Any]:
    """The same stock with its batches merged: every batch of a variant at a place adds up."""
    merged: dict[tuple[int, int, int], Any] = {}
    for (v, loc, _), q in stock.items():
        merged[(v, loc, 0)] = merged.get((v, loc, 0), 0) + q
    return merged


def _stock(s: Session, vids: list[int]) -> dict[tuple[int, int, int], object]:
    """Non-zero stock of the variants, summed per (variant, location, batch_key)."""
    rows = s.execute(
        select(Stock.variant_id, Stock.location_id, Stock.batch_key, func.sum(Stock.quantity))
        .where(Stock.variant_id.in_(vids))
        .group_by(Stock.variant_id, Stock.location_id, Stock.batch_key)
    ).all()
    return {(v, loc, key): q for v, loc, key, q in rows if q}


def _records(s: Session, item_id: int, vids: list[int]) -> int:
    batches = s.scalar(select(func.count()).where(Batch.variant_id.in_(vids)))
    serials = s.scalar(select(func.count()).where(Serial.item_id == item_id))
    return int(batches or 0) + int(serials or 0)


def _archives(s: Session, item_id: int) -> int:
    return int(s.scalar(select(func.count()).where(TrackingArchive.item_id == item_id)) or 0)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=ops)
def test_random_operations_keep_stock_and_serials_equal_to_the_ledger(sessions, steps):
    scenario = Scenario(sessions)
    for step in steps:
        with scenario.w.tx() as s:
            scenario.before = ledger_snapshot(s)
        try:
            scenario.run(step)
        except TracelotError:
            with scenario.w.tx() as s:  # the refused transaction changed nothing
                assert ledger_snapshot(s) == scenario.before, step
        with scenario.w.tx() as s:
            check_ledger(s)

"""SPEC §1 through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.models import Batch, Item, Movement, Serial, Stock, TrackingArchive
from tracelot.domain.errors import TracelotError
from tracelot.services import catalog, tracking


@pytest.fixture
def w(sessions):
    return World(sessions).setup()


def _patch(w, item_id, **data):
    with w.tx() as s:
        return catalog.update_item(s, s.get(Item, item_id), data, "tester")


def test_none_to_batch_moves_all_stock_of_every_variant_and_location_into_unbatched(w):
    shop = w.location("Shop")
    item, (v1, v2) = w.item("Flour", skus=("FL-1", "FL-2"))
    other, (ov,) = w.item("Salt")
    w.adjust(
        [
            {"variant_id": v1, "quantity": 7},
            {"variant_id": v2, "quantity": 3},
            {"variant_id": ov, "quantity": 4},
        ]
    )
    w.adjust([{"variant_id": v1, "quantity": 5}], location_id=shop)
    _patch(w, item, batch_tracked=True)
    with w.tx() as s:
        assert s.get(Item, item).tracking == "batch"
        assert s.get(Item, other).tracking == "none"
        rows = s.execute(
            select(Stock.variant_id, Stock.location_id, Stock.batch_key, Stock.quantity).where(
                Stock.variant_id.in_([v1, v2])
            )
        ).all()
        assert sorted(
            (r.variant_id, r.location_id, r.batch_key, Decimal(r.quantity)) for r in rows
        ) == [(v1, w.location_id, 0, 7), (v1, shop, 0, 5), (v2, w.location_id, 0, 3)]
        recorded = s.execute(
            select(Movement.variant_id, Movement.quantity).where(
                Movement.reason == "tracking_change"
            )
        ).all()
        assert len(recorded) == 6  # out of untracked, into unbatched, per variant/location
        check_ledger(s)


def test_unbatched_stock_can_be_taken_out_with_a_null_batch(w):
    item, (v,) = w.item("Oats")
    w.adjust([{"variant_id": v, "quantity": 10}])
    _patch(w, item, batch_tracked=True)
    w.adjust(
        [
            {
                "variant_id": v,
                "quantity": -4,
                "batch_transactions": [{"batch_id": None, "quantity": 4}],
            }
        ]
    )
    with w.tx() as s:
        assert s.scalar(select(Stock.quantity).where(Stock.variant_id == v)) == 6


def test_none_to_serial_keeps_stock_and_reports_the_gap_until_serials_are_connected(w):
    item, (v,) = w.item("Drill")
    w.adjust([{"variant_id": v, "quantity": 5}])
    _patch(w, item, serial_tracked=True)
    with w.tx() as s:
        (gap,) = tracking.serial_gaps(s, [item])
        assert gap["missing_serial_numbers"] == 5
        assert s.scalar(select(func.sum(Stock.quantity)).where(Stock.variant_id == v)) == 5
    w.adjust(
        [
            {
                "variant_id": v,
                "quantity": 3,
                "connects_existing": True,
                "serial_numbers": ["D-1", "D-2", "D-3"],
            }
        ]
    )
    with w.tx() as s:
        (gap,) = tracking.serial_gaps(s, [item])
        assert gap["missing_serial_numbers"] == 2
        assert s.scalar(select(func.sum(Stock.quantity)).where(Stock.variant_id == v)) == 5
        check_ledger(s)


def test_connecting_more_serials_than_the_gap_is_refused(w):
    item, (v,) = w.item("Saw")
    w.adjust([{"variant_id": v, "quantity": 1}])
    _patch(w, item, serial_tracked=True)
    with pytest.raises(TracelotError) as exc:
        w.adjust(
            [
                {
                    "variant_id": v,
                    "quantity": 2,
                    "connects_existing": True,
                    "serial_numbers": ["S-1", "S-2"],
                }
            ]
        )
    assert exc.value.code == "QUANTITY_EXCEEDED"


@pytest.mark.parametrize(
    ("start", "flag"), [("batch", "serial_tracked"), ("serial", "batch_tracked")]
)
def test_switching_batch_and_serial_directly_is_refused_and_changes_nothing(w, start, flag):
    item, (v,) = w.item("Thing", start)
    row = (
        {"variant_id": v, "quantity": 2, "serial_numbers": ["T-1", "T-2"]}
        if start == "serial"
        else {
            "variant_id": v,
            "quantity": 2,
            "batch_transactions": [{"batch_number": "L1", "quantity": 2}],
        }
    )
    w.adjust([row])
    with w.tx() as s:
        before = ledger_snapshot(s)
    with pytest.raises(TracelotError) as exc:
        _patch(w, item, **{flag: True})
    assert exc.value.code == "TRACKING_SWITCH_REFUSED"
    with w.tx() as s:
        assert s.get(Item, item).tracking == start
        assert ledger_snapshot(s) == before


def test_removing_tracking_without_confirmation_is_refused(w):
    item, (v,) = w.item("Honey", "batch")
    w.adjust(
        [
            {
                "variant_id": v,
                "quantity": 2,
                "batch_transactions": [{"batch_number": "H1", "quantity": 2}],
            }
        ]
    )
    with pytest.raises(TracelotError) as exc:
        _patch(w, item, batch_tracked=False)
    assert exc.value.code == "CONFIRMATION_REQUIRED"
    with w.tx() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 1
        assert s.scalar(select(func.count()).select_from(TrackingArchive)) == 0


def test_removing_batch_tracking_archives_every_record_then_removes_them(w):
    item, (v1, v2) = w.item("Jam", "batch", skus=("J-1", "J-2"))
    other, (ov,) = w.item("Tea", "batch")
    w.adjust(
        [
            {
                "variant_id": v1,
                "quantity": 5,
                "batch_transactions": [
                    {"batch_number": "A", "quantity": 2},
                    {"batch_number": "B", "quantity": 3},
                ],
            },
            {
                "variant_id": v2,
                "quantity": 1,
                "batch_transactions": [{"batch_number": "A", "quantity": 1}],
            },
            {
                "variant_id": ov,
                "quantity": 1,
                "batch_transactions": [{"batch_number": "T", "quantity": 1}],
            },
        ]
    )
    _patch(w, item, batch_tracked=False, confirm_remove_tracking=True)
    with w.tx() as s:
        (archive,) = s.scalars(select(TrackingArchive)).all()
        lines = list(csv.DictReader(io.StringIO(archive.content)))
        batches = {(r["sku"], r["batch_number"]) for r in lines if r["record"] == "batch"}
        assert batches == {("J-1", "A"), ("J-1", "B"), ("J-2", "A")}
        assert sum(1 for r in lines if r["record"] == "batch_movement") == 3
        assert archive.item_id == item
        assert s.scalars(select(Batch.batch_number)).all() == ["T"]  # other item untouched
        assert s.get(Item, item).tracking == "none"
        stock = dict(
            s.execute(
                select(Stock.variant_id, Stock.quantity).where(Stock.variant_id.in_([v1, v2]))
            ).all()
        )
        assert stock == {v1: 5, v2: 1}
        check_ledger(s)


def test_removing_serial_tracking_archives_serials_and_their_history(w):
    item, (v,) = w.item("Phone", "serial")
    w.adjust([{"variant_id": v, "quantity": 2, "serial_numbers": ["P-1", "P-2"]}])
    _patch(w, item, serial_tracked=False, confirm_remove_tracking=True)
    with w.tx() as s:
        (archive,) = s.scalars(select(TrackingArchive)).all()
        lines = list(csv.DictReader(io.StringIO(archive.content)))
        assert {r["serial_number"] for r in lines if r["record"] == "serial"} == {"P-1", "P-2"}
        assert sum(1 for r in lines if r["record"] == "serial_transaction") == 2
        assert s.scalar(select(func.count()).select_from(Serial)) == 0
        assert s.scalar(select(func.sum(Stock.quantity)).where(Stock.variant_id == v)) == 2
        check_ledger(s)

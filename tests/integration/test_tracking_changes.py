"""SPEC §1 through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.models import (
    Batch,
    Genealogy,
    Item,
    Movement,
    Production,
    Serial,
    Stock,
    TrackingArchive,
)
from tracelot.domain.errors import TracelotError
from tracelot.services import catalog, manufacturing, tracking


@pytest.fixture
def w(sessions):
    return World(sessions).setup()


def _patch(w, item_id, **data):
    with w.tx() as s:
        return catalog.update_item(s, s.get(Item, item_id), data, "tester")


def _refused(w, item_id, **data):
    """The refusal's code, after checking inside its own transaction that nothing was written.

    Looking afterwards would prove nothing: the rollback hides any write made
    before the refusal, and the rule is that a refusal writes nothing at all.
    """
    with w.tx() as s:
        before = ledger_snapshot(s)
        item = s.get(Item, item_id)
        tracking_before = item.tracking
        with pytest.raises(TracelotError) as exc:
            catalog.update_item(s, item, data, "tester")
        s.flush()
        assert ledger_snapshot(s) == before
        assert item.tracking == tracking_before
        return exc.value.code


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
    main = w.location_id
    with w.tx() as s:
        assert s.get(Item, item).tracking == "batch"
        assert s.get(Item, other).tracking == "none"
        # Out of untracked stock and into unbatched, per variant and location, on the
        # ledger: the stock rows themselves read the same before and after.
        recorded = s.execute(
            select(
                Movement.variant_id,
                Movement.location_id,
                Movement.batch_id,
                Movement.quantity,
                Movement.resource_type,
                Movement.resource_id,
            ).where(Movement.reason == "tracking_change")
        ).all()
        assert sorted(
            (r.variant_id, r.location_id, r.batch_id, Decimal(r.quantity)) for r in recorded
        ) == sorted(
            (v, loc, None, sign * Decimal(q))
            for v, loc, q in ((v1, main, 7), (v1, shop, 5), (v2, main, 3))
            for sign in (-1, 1)
        )
        assert {(r.resource_type, r.resource_id) for r in recorded} == {("Item", item)}
        on_hand = s.execute(
            select(Stock.variant_id, Stock.location_id, Stock.batch_key, Stock.quantity).where(
                Stock.variant_id.in_([v1, v2, ov])
            )
        ).all()
        assert sorted(
            (r.variant_id, r.location_id, r.batch_key, Decimal(r.quantity)) for r in on_hand
        ) == sorted([(v1, main, 0, 7), (v1, shop, 0, 5), (v2, main, 0, 3), (ov, main, 0, 4)])
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


def test_none_to_serial_reports_the_gap_per_variant_and_location(w):
    shop = w.location("Shop")
    main = w.location_id
    item, (v1, v2) = w.item("Lamp", skus=("LA-1", "LA-2"))
    w.adjust([{"variant_id": v1, "quantity": 4}, {"variant_id": v2, "quantity": 1}])
    w.adjust([{"variant_id": v1, "quantity": 2}], location_id=shop)
    _patch(w, item, serial_tracked=True)
    w.adjust(
        [
            {
                "variant_id": v1,
                "quantity": 1,
                "connects_existing": True,
                "serial_numbers": ["LA-S1"],
            }
        ],
        location_id=shop,
    )
    with w.tx() as s:
        gaps = sorted(
            (
                g["variant_id"],
                g["location_id"],
                g["quantity_in_stock"],
                g["serials_in_stock"],
                g["missing_serial_numbers"],
            )
            for g in tracking.serial_gaps(s, [item])
        )
        assert gaps == sorted([(v1, main, 4, 0, 4), (v1, shop, 2, 1, 1), (v2, main, 1, 0, 1)])
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
    assert _refused(w, item, **{flag: True}) == "TRACKING_SWITCH_REFUSED"
    with w.tx() as s:
        assert s.get(Item, item).tracking == start


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
    assert _refused(w, item, batch_tracked=False) == "CONFIRMATION_REQUIRED"
    assert _refused(w, item, tracking="none", confirm_remove_tracking=False) == (
        "CONFIRMATION_REQUIRED"
    )


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


def _made(w):
    """Resin (batch) -> 2 Widgets (serial, made by an MO) -> 1 Crate (batch C-1, another MO)."""
    _, (resin,) = w.item("Resin", "batch", kind="material")
    widget_item, (widget,) = w.item("Widget", "serial")
    crate_item, (crate,) = w.item("Crate", "batch")
    with w.tx() as s:
        for product, ingredient, qty in ((widget, resin, 2), (crate, widget, 1)):
            manufacturing.save_recipe_row(
                s,
                None,
                {
                    "product_variant_id": product,
                    "ingredient_variant_id": ingredient,
                    "quantity": qty,
                },
            )
    w.adjust(
        [
            {
                "variant_id": resin,
                "quantity": 10,
                "batch_transactions": [{"batch_number": "R1", "quantity": 10}],
            }
        ]
    )
    with w.tx() as s:
        mo = manufacturing.create_order(
            s, {"variant_id": widget, "location_id": w.location_id, "planned_quantity": 2}, "t"
        )
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo.id,
                "completed_quantity": 2,
                "new_serial_numbers": ["W-1", "W-2"],
            },
            "t",
        )
        w1 = s.scalar(select(Serial.id).where(Serial.serial_number == "W-1"))
        mo2 = manufacturing.create_order(
            s, {"variant_id": crate, "location_id": w.location_id, "planned_quantity": 1}, "t"
        )
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo2.id,
                "completed_quantity": 1,
                "batch_number": "C-1",
                "traceability": [{"serial_number_id": w1}],
            },
            "t",
        )
    with w.tx() as s:
        names = dict(s.execute(select(Item.name, Item.id)).all())
        return {**names, "resin": resin, "widget": widget, "crate": crate}


def _genealogy(s):
    """Every genealogy row as (output variant, batch, serial, input variant, batch, serial, qty)."""
    batch = dict(s.execute(select(Batch.id, Batch.batch_number)).all())
    serial = dict(s.execute(select(Serial.id, Serial.serial_number)).all())
    return sorted(
        (
            g.output_variant_id,
            batch.get(g.output_batch_id),
            serial.get(g.output_serial_id),
            g.input_variant_id,
            batch.get(g.input_batch_id),
            serial.get(g.input_serial_id),
            Decimal(g.quantity),
        )
        for g in s.scalars(select(Genealogy))
    )


def _archive_lines(s, item_id):
    (archive,) = s.scalars(select(TrackingArchive).where(TrackingArchive.item_id == item_id))
    return list(csv.DictReader(io.StringIO(archive.content)))


def test_removing_serial_tracking_of_an_item_made_and_consumed_keeps_genealogy_untracked(w):
    p = _made(w)
    _patch(w, p["Widget"], serial_tracked=False, confirm_remove_tracking=True)
    r, wd, c = p["resin"], p["widget"], p["crate"]
    with w.tx() as s:
        assert s.get(Item, p["Widget"]).tracking == "none"
        assert s.scalar(select(func.count()).where(Serial.item_id == p["Widget"])) == 0
        # The links stay, now naming untracked widget quantities; other items keep theirs.
        assert _genealogy(s) == sorted(
            [
                (wd, None, None, r, "R1", None, Decimal(2)),
                (wd, None, None, r, "R1", None, Decimal(2)),
                (c, "C-1", None, wd, None, None, Decimal(1)),
            ]
        )
        lines = _archive_lines(s, p["Widget"])
        links = sorted(
            (g["role"], g["serial_number"], g["linked_sku"], g["linked_batch_number"])
            for g in lines
            if g["record"] == "genealogy"
        )
        assert links == [
            ("input", "W-1", "CRATE-1", "C-1"),
            ("output", "W-1", "RESIN-1", "R1"),
            ("output", "W-2", "RESIN-1", "R1"),
        ]
        assert all(g["manufacturing_order"] for g in lines if g["record"] == "genealogy")
        assert s.scalar(select(func.sum(Stock.quantity)).where(Stock.variant_id == wd)) == 1
        check_ledger(s)


def test_removing_batch_tracking_of_a_consumed_material_archives_where_its_batches_went(w):
    p = _made(w)
    _patch(w, p["Resin"], batch_tracked=False, confirm_remove_tracking=True)
    r, wd, c = p["resin"], p["widget"], p["crate"]
    with w.tx() as s:
        assert s.scalar(select(func.count()).where(Batch.variant_id == r)) == 0
        assert _genealogy(s) == sorted(
            [
                (wd, None, "W-1", r, None, None, Decimal(2)),
                (wd, None, "W-2", r, None, None, Decimal(2)),
                (c, "C-1", None, wd, None, "W-1", Decimal(1)),
            ]
        )
        links = sorted(
            (g["role"], g["batch_number"], g["linked_serial_number"], g["quantity"])
            for g in _archive_lines(s, p["Resin"])
            if g["record"] == "genealogy"
        )
        assert links == [("input", "R1", "W-1", "2"), ("input", "R1", "W-2", "2")]
        assert s.scalar(select(Stock.quantity).where(Stock.variant_id == r)) == 6
        check_ledger(s)


def test_removing_batch_tracking_of_a_produced_item_archives_its_productions(w):
    p = _made(w)
    with w.tx() as s:
        before = s.scalar(select(Production.id).where(Production.batch_id.is_not(None)))
    _patch(w, p["Crate"], batch_tracked=False, confirm_remove_tracking=True)
    with w.tx() as s:
        assert s.get(Production, before).batch_id is None
        assert s.scalar(select(func.count()).where(Batch.variant_id == p["crate"])) == 0
        lines = _archive_lines(s, p["Crate"])
        (made,) = [g for g in lines if g["record"] == "production"]
        assert (made["batch_number"], made["quantity"], made["resource_id"]) == (
            "C-1",
            "1",
            str(before),
        )
        assert made["manufacturing_order"]
        (link,) = [g for g in lines if g["record"] == "genealogy"]
        assert (link["role"], link["batch_number"], link["linked_serial_number"]) == (
            "output",
            "C-1",
            "W-1",
        )
        assert s.scalar(select(Serial.status).where(Serial.serial_number == "W-1")) == "consumed"
        check_ledger(s)

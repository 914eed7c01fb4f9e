"""Manufacturing orders through the services, on SQLite and PostgreSQL (issue 4)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from support.race import while_first_is_open
from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.models import Batch, Genealogy, Item, ManufacturingOrder, Movement, Serial, Stock
from tracelot.domain.errors import TracelotError
from tracelot.services import holds, manufacturing

SOON = date.today() + timedelta(days=10)
LATER = date.today() + timedelta(days=40)


def _plant(w: World) -> dict[str, int]:
    """A serial product (pattern) made of 2 kg of a batch material and 1 serial sub-assembly.

    The material is in two batches: EARLY (4 kg, expiring first, entered second)
    and LATE (16 kg): only first-expired-first-out empties EARLY before LATE.
    """
    _, (product,) = w.item("Widget", "serial")
    _, (material,) = w.item("Resin", "batch", kind="material")
    _, (sub,) = w.item("Board", "serial")
    with w.tx() as s:
        s.scalar(select(Item).where(Item.name == "Widget")).serial_pattern = "W-{YYYY}-{seq:04}"
        manufacturing.save_recipe_row(
            s,
            None,
            {"product_variant_id": product, "ingredient_variant_id": material, "quantity": 2},
        )
        manufacturing.save_recipe_row(
            s, None, {"product_variant_id": product, "ingredient_variant_id": sub, "quantity": 1}
        )
    w.adjust(
        [
            {
                "variant_id": material,
                "quantity": 20,
                "batch_transactions": [
                    {"batch_number": "LATE", "expiration_date": LATER, "quantity": 16},
                    {"batch_number": "EARLY", "expiration_date": SOON, "quantity": 4},
                ],
            },
            {"variant_id": sub, "quantity": 6, "serial_numbers": ["B-1..B-6"]},
        ]
    )
    with w.tx() as s:
        ids = {b.batch_number: b.id for b in s.scalars(select(Batch))}
        subs = dict(
            s.execute(select(Serial.serial_number, Serial.id).where(Serial.variant_id == sub)).all()
        )
    return {
        "product": product,
        "material": material,
        "sub": sub,
        **ids,
        **{k: v for k, v in subs.items()},
    }


def _mo(w: World, variant: int, qty: int) -> int:
    with w.tx() as s:
        return manufacturing.create_order(
            s,
            {"variant_id": variant, "location_id": w.location_id, "planned_quantity": qty},
            "test",
        ).id


def test_outputs_carry_genealogy_to_exactly_the_consumed_batches_and_serials(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    mo_id = _mo(w, p["product"], 5)
    subs = [p[f"B-{i}"] for i in range(1, 6)]
    with w.tx() as s:
        prod = manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo_id,
                "completed_quantity": 5,
                "traceability": [{"serial_number_id": i} for i in subs],
            },
            "test",
        )
        prod_id = prod.id
    with w.tx() as s:
        mo = s.get(ManufacturingOrder, mo_id)
        assert mo.status == "DONE"
        outputs = s.scalars(
            select(Serial).where(Serial.variant_id == p["product"]).order_by(Serial.id)
        ).all()
        year = date.today().year
        assert [o.serial_number for o in outputs] == [f"W-{year}-{i:04}" for i in range(1, 6)]
        assert all(o.status == "in_stock" for o in outputs)
        # FEFO: 10 kg needed; all 4 of EARLY first, then 6 of LATE's 16
        stock = dict(
            s.execute(
                select(Stock.batch_id, Stock.quantity).where(Stock.variant_id == p["material"])
            ).all()
        )
        assert stock == {p["EARLY"]: 0, p["LATE"]: 10}
        assert s.get(Serial, p["B-6"]).status == "in_stock"
        assert {s.get(Serial, i).status for i in subs} == {"consumed"}
        gen = s.scalars(select(Genealogy).where(Genealogy.resource_id == prod_id)).all()
        for o, sub in zip(outputs, subs, strict=True):
            mine = [g for g in gen if g.output_serial_id == o.id]
            assert {g.input_serial_id for g in mine if g.input_serial_id} == {sub}
            batch_in = {g.input_batch_id: g.quantity for g in mine if g.input_batch_id}
            assert batch_in == {p["EARLY"]: Decimal("0.8"), p["LATE"]: Decimal("1.2")}
        assert {g.input_batch_id for g in gen if g.input_batch_id} == {p["EARLY"], p["LATE"]}
        reasons = set(s.scalars(select(Movement.reason)))
        assert {"consumption", "production"} <= reasons
        check_ledger(s)


def test_a_sub_assembly_serial_made_by_one_mo_is_an_input_of_another(sessions):
    w = World(sessions).setup()
    _, (sub,) = w.item("Core", "serial")
    _, (top,) = w.item("Unit", "serial")
    with w.tx() as s:
        manufacturing.save_recipe_row(
            s, None, {"product_variant_id": top, "ingredient_variant_id": sub, "quantity": 1}
        )
    with w.tx() as s:
        mo = manufacturing.create_order(
            s, {"variant_id": sub, "location_id": w.location_id, "planned_quantity": 1}, "t"
        )
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo.id,
                "completed_quantity": 1,
                "new_serial_numbers": ["CORE-1"],
            },
            "t",
        )
        core = s.scalar(select(Serial.id).where(Serial.serial_number == "CORE-1"))
    with w.tx() as s:
        mo2 = manufacturing.create_order(
            s, {"variant_id": top, "location_id": w.location_id, "planned_quantity": 1}, "t"
        )
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo2.id,
                "completed_quantity": 1,
                "new_serial_numbers": ["UNIT-1"],
                "traceability": [{"serial_number_id": core}],
            },
            "t",
        )
    with w.tx() as s:
        unit = s.scalar(select(Serial.id).where(Serial.serial_number == "UNIT-1"))
        g = s.scalars(select(Genealogy).where(Genealogy.output_serial_id == unit)).one()
        assert g.input_serial_id == core
        check_ledger(s)


def test_an_mo_short_of_ingredients_is_blocked(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    big, small = _mo(w, p["product"], 50), _mo(w, p["product"], 2)
    with w.tx() as s:
        assert s.get(ManufacturingOrder, big).status == "BLOCKED"
        assert s.get(ManufacturingOrder, small).status == "NOT_STARTED"


def _refused(w: World, data: dict, code: str) -> TracelotError:
    with w.tx() as s:
        before = ledger_snapshot(s)
        gen = s.scalar(select(func.count()).select_from(Genealogy))
    with pytest.raises(TracelotError) as exc, w.tx() as s:
        manufacturing.produce(s, data, "test")
    assert exc.value.code == code, exc.value.message
    with w.tx() as s:
        assert ledger_snapshot(s) == before
        assert s.scalar(select(func.count()).select_from(Genealogy)) == gen
        check_ledger(s)
    return exc.value


def test_consuming_more_than_a_batch_holds_is_refused_and_changes_nothing(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    mo = _mo(w, p["product"], 3)
    err = _refused(
        w,
        {
            "manufacturing_order_id": mo,
            "completed_quantity": 3,
            "traceability": [
                {"batch_id": p["EARLY"], "quantity": 6},
                *[{"serial_number_id": p[f"B-{i}"]} for i in (1, 2, 3)],
            ],
        },
        "NOT_IN_STOCK",
    )
    assert "EARLY" in err.message


def test_an_expired_batch_is_refused_without_override(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    with w.tx() as s:
        s.get(Batch, p["EARLY"]).expiration_date = date.today() - timedelta(days=1)
    mo = _mo(w, p["product"], 1)
    data = {
        "manufacturing_order_id": mo,
        "completed_quantity": 1,
        "traceability": [{"batch_id": p["EARLY"], "quantity": 2}, {"serial_number_id": p["B-1"]}],
    }
    err = _refused(w, data, "EXPIRED_BATCH")
    assert "EARLY" in err.message and "allow_expired" in err.message
    with w.tx() as s:
        manufacturing.produce(s, {**data, "allow_expired": True}, "test")
        check_ledger(s)


def test_fefo_skips_expired_and_held_batches(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    with w.tx() as s:
        holds.put_batch_hold(s, p["EARLY"], "lab check")
    mo = _mo(w, p["product"], 1)
    with w.tx() as s:
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo,
                "completed_quantity": 1,
                "traceability": [{"serial_number_id": p["B-1"]}],
            },
            "t",
        )
        late = s.scalar(select(Stock.quantity).where(Stock.batch_id == p["LATE"]))
        assert late == 14


def test_a_serial_not_in_stock_is_refused(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    mo = _mo(w, p["product"], 1)
    w.adjust(
        [
            {
                "variant_id": p["sub"],
                "quantity": -1,
                "traceability": [{"serial_number_id": p["B-2"], "quantity": 1}],
            }
        ]
    )
    err = _refused(
        w,
        {
            "manufacturing_order_id": mo,
            "completed_quantity": 1,
            "traceability": [{"serial_number_id": p["B-2"]}],
        },
        "NOT_IN_STOCK",
    )
    assert "B-2" in err.message


def test_producing_a_serial_that_exists_is_refused(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    mo = _mo(w, p["product"], 2)
    with w.tx() as s:
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo,
                "completed_quantity": 1,
                "new_serial_numbers": ["W-1"],
                "traceability": [{"serial_number_id": p["B-1"]}],
            },
            "t",
        )
    err = _refused(
        w,
        {
            "manufacturing_order_id": mo,
            "completed_quantity": 1,
            "new_serial_numbers": ["W-1"],
            "traceability": [{"serial_number_id": p["B-2"]}],
        },
        "DUPLICATE",
    )
    assert "W-1" in err.message


def test_output_serials_must_match_the_completed_quantity(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    mo = _mo(w, p["product"], 2)
    _refused(
        w,
        {
            "manufacturing_order_id": mo,
            "completed_quantity": 2,
            "new_serial_numbers": ["W-9"],
            "traceability": [{"serial_number_id": p["B-1"]}, {"serial_number_id": p["B-2"]}],
        },
        "QUANTITY_MISMATCH",
    )


def test_serials_minted_on_the_mo_are_produced_first_minted_first(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    mo = _mo(w, p["product"], 2)
    with w.tx() as s:
        ids = manufacturing.link_serials(s, mo, ["M-2", "M-1"], "t")
        prod = manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo,
                "completed_quantity": 1,
                "traceability": [{"serial_number_id": p["B-1"]}],
            },
            "t",
        )
        made = manufacturing.produced_serials(s, [prod.id])
        assert [sr.id for _, sr, _ in made] == [ids[0]]
        check_ledger(s)


def test_deleting_a_production_restores_ingredients_while_the_output_is_in_stock(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    mo = _mo(w, p["product"], 2)
    with w.tx() as s:
        before = dict(
            s.execute(
                select(Stock.batch_id, Stock.quantity).where(Stock.variant_id == p["material"])
            ).all()
        )
        prod = manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo,
                "completed_quantity": 2,
                "traceability": [{"serial_number_id": p["B-1"]}, {"serial_number_id": p["B-2"]}],
            },
            "t",
        )
        prod_id = prod.id
    with w.tx() as s:
        from tracelot.db.models import Production

        manufacturing.delete_production(s, s.get(Production, prod_id), "t")
    with w.tx() as s:
        after = dict(
            s.execute(
                select(Stock.batch_id, Stock.quantity).where(Stock.variant_id == p["material"])
            ).all()
        )
        assert after == before
        assert s.get(Serial, p["B-1"]).status == "in_stock"
        assert s.get(ManufacturingOrder, mo).status == "NOT_STARTED"
        assert s.get(ManufacturingOrder, mo).completed_quantity == 0
        assert not s.scalars(select(Genealogy)).all()
        assert s.scalar(select(func.count()).where(Movement.reason == "revert")) >= 3
        check_ledger(s)


def test_deleting_a_production_whose_output_left_stock_is_refused(sessions):
    w = World(sessions).setup()
    p = _plant(w)
    mo = _mo(w, p["product"], 1)
    with w.tx() as s:
        prod = manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo,
                "completed_quantity": 1,
                "new_serial_numbers": ["OUT-1"],
                "traceability": [{"serial_number_id": p["B-1"]}],
            },
            "t",
        )
        prod_id = prod.id
        out = s.scalar(select(Serial.id).where(Serial.serial_number == "OUT-1"))
    w.adjust(
        [
            {
                "variant_id": p["product"],
                "quantity": -1,
                "traceability": [{"serial_number_id": out, "quantity": 1}],
            }
        ]
    )
    from tracelot.db.models import Production

    with pytest.raises(TracelotError) as exc, w.tx() as s:
        manufacturing.delete_production(s, s.get(Production, prod_id), "t")
    assert exc.value.code == "IN_USE"
    assert "OUT-1" in exc.value.message


def test_named_batches_that_do_not_cover_the_need_are_refused_in_the_service(sessions):
    """Whatever the entry point: named quantities are what is taken, never topped up."""
    w = World(sessions).setup()
    p = _plant(w)
    mo = _mo(w, p["product"], 2)
    err = _refused(
        w,
        {
            "manufacturing_order_id": mo,
            "completed_quantity": 2,
            "traceability": [
                {"batch_id": p["EARLY"], "quantity": 1},
                *[{"serial_number_id": p[f"B-{i}"]} for i in (1, 2)],
            ],
        },
        "QUANTITY_MISMATCH",
    )
    assert "add up to 1 but the production needs 4" in err.message


def test_two_productions_of_the_same_mo_at_once_both_count(sessions, engine):
    """The MO row is locked for a production: no lost update of completed_quantity."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a race between two connections needs PostgreSQL; SQLite serialises writers")
    w = World(sessions).setup()
    _, (lamp,) = w.item("Lamp")
    mo = _mo(w, lamp, 5)

    def make_one(s):  # type: ignore[no-untyped-def]
        manufacturing.produce(s, {"manufacturing_order_id": mo, "completed_quantity": 1}, "t")

    assert while_first_is_open(sessions, engine, make_one, make_one) is None
    with w.tx() as s:
        got = s.get(ManufacturingOrder, mo)
        assert got.completed_quantity == 2
        assert got.status == "PARTIALLY_COMPLETED"
        check_ledger(s)


def test_a_production_that_uses_up_a_material_blocks_the_other_mos_waiting_for_it(sessions):
    w = World(sessions).setup()
    p = _plant(w)  # 6 boards: 1 per widget
    first, second = _mo(w, p["product"], 3), _mo(w, p["product"], 4)
    with w.tx() as s:
        assert s.get(ManufacturingOrder, second).status == "NOT_STARTED"
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": first,
                "completed_quantity": 3,
                "traceability": [{"serial_number_id": p[f"B-{i}"]} for i in (1, 2, 3)],
            },
            "t",
        )
    with w.tx() as s:
        assert s.get(ManufacturingOrder, second).status == "BLOCKED"  # 3 boards left, 4 wanted


def _three_batches(w: World) -> dict[str, int]:
    """A lamp made of 1 kg of oil; oil in A (5 kg, expires first), B (5 kg), C (3 kg, last)."""
    _, (lamp,) = w.item("Lamp")
    _, (oil,) = w.item("Oil", "batch", kind="material")
    with w.tx() as s:
        manufacturing.save_recipe_row(
            s, None, {"product_variant_id": lamp, "ingredient_variant_id": oil, "quantity": 1}
        )
    w.adjust(
        [
            {
                "variant_id": oil,
                "quantity": 13,
                "batch_transactions": [
                    {"batch_number": n, "expiration_date": SOON + timedelta(days=d), "quantity": q}
                    for n, d, q in (("A", 0, 5), ("B", 10, 5), ("C", 20, 3))
                ],
            }
        ]
    )
    with w.tx() as s:
        ids = {b.batch_number: b.id for b in s.scalars(select(Batch))}
    return {"lamp": lamp, "oil": oil, **ids}


def _oil_left(w: World, p: dict[str, int]) -> dict[str, Decimal]:
    with w.tx() as s:
        return {n: s.scalar(select(Stock.quantity).where(Stock.batch_id == p[n])) for n in "ABC"}


def test_a_batch_named_without_a_quantity_gives_what_it_holds_and_fefo_takes_the_rest(sessions):
    w = World(sessions).setup()
    p = _three_batches(w)
    mo = _mo(w, p["lamp"], 6)
    with w.tx() as s:
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo,
                "completed_quantity": 6,
                "traceability": [{"batch_id": p["C"]}],
            },
            "t",
        )
        check_ledger(s)
    assert _oil_left(w, p) == {"A": 2, "B": 5, "C": 0}  # C's 3, then 3 of A (FEFO)


def test_named_quantities_above_the_need_are_refused_even_beside_a_batch_without_one(sessions):
    w = World(sessions).setup()
    p = _three_batches(w)
    mo = _mo(w, p["lamp"], 6)
    err = _refused(
        w,
        {
            "manufacturing_order_id": mo,
            "completed_quantity": 6,
            "traceability": [
                {"batch_id": p["A"], "quantity": 4},
                {"batch_id": p["B"], "quantity": 4},
                {"batch_id": p["C"]},
            ],
        },
        "QUANTITY_MISMATCH",
    )
    assert "add up to 8 but the production needs 6" in err.message


def test_output_serial_numbers_can_be_entered_again_after_the_production_is_deleted(sessions):
    w = World(sessions).setup()
    _, (lamp,) = w.item("Lamp", "serial")
    mo = _mo(w, lamp, 2)
    data = {
        "manufacturing_order_id": mo,
        "completed_quantity": 2,
        "new_serial_numbers": ["L-1..L-2"],
    }
    with w.tx() as s:
        prod_id = manufacturing.produce(s, data, "t").id
        made = sorted(s.scalars(select(Serial.id)))
    from tracelot.db.models import Production

    with w.tx() as s:
        manufacturing.delete_production(s, s.get(Production, prod_id), "t")
    with w.tx() as s:
        manufacturing.produce(s, data, "t")
    with w.tx() as s:
        assert sorted(s.scalars(select(Serial.id))) == made
        assert set(s.scalars(select(Serial.status))) == {"in_stock"}
        assert s.get(ManufacturingOrder, mo).status == "DONE"
        check_ledger(s)


def test_unminting_a_serial_that_was_produced_once_keeps_it_and_its_history(sessions):
    w = World(sessions).setup()
    _, (lamp,) = w.item("Lamp", "serial")
    mo = _mo(w, lamp, 1)
    from tracelot.db.models import Production, SerialTransaction

    with w.tx() as s:
        (sid,) = manufacturing.link_serials(s, mo, ["L-1"], "t")
        prod_id = manufacturing.produce(
            s, {"manufacturing_order_id": mo, "completed_quantity": 1}, "t"
        ).id
    with w.tx() as s:
        manufacturing.delete_production(s, s.get(Production, prod_id), "t")
    with w.tx() as s:
        assert [x.id for x in manufacturing.minted_serials(s, mo)] == [sid]
        manufacturing.unlink_serials(s, mo, [sid], "t")
    with w.tx() as s:
        assert manufacturing.minted_serials(s, mo) == []
        assert s.get(Serial, sid).status == "pending"
        reasons = s.scalars(
            select(SerialTransaction.reason).where(SerialTransaction.serial_id == sid)
        ).all()
        assert sorted(reasons) == ["production", "revert"]
        check_ledger(s)

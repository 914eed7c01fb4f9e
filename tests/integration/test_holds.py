"""Acceptance #6: a held batch or serial cannot be shipped or consumed; the error names it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.models import Batch, Serial
from tracelot.domain import errors
from tracelot.services import holds, ledger


def _stock(w: World) -> tuple[int, int, int, list[int]]:
    _, (bv,) = w.item("Flour", "batch", "material")
    _, (sv,) = w.item("Mixer", "serial")
    w.adjust(
        [
            {
                "variant_id": bv,
                "quantity": 5,
                "batch_transactions": [{"batch_number": "L1", "quantity": 5}],
            },
            {"variant_id": sv, "quantity": 2, "serial_numbers": ["M-1", "M-2"]},
        ]
    )
    with w.tx() as s:
        batch_id = s.scalar(select(Batch.id).where(Batch.batch_number == "L1"))
        sids = list(s.scalars(select(Serial.id).order_by(Serial.serial_number)))
    return bv, sv, int(batch_id), sids


@pytest.mark.parametrize("reason", ["consumption", "delivery"])
def test_a_held_batch_cannot_be_consumed_or_shipped(sessions, reason):
    w = World(sessions).setup()
    bv, _, batch_id, _ = _stock(w)
    with w.tx() as s:
        holds.put_batch_hold(s, batch_id, "supplier complaint 17", recall=True)
    with w.tx() as s:
        before = ledger_snapshot(s)
    with pytest.raises(errors.TracelotError) as exc, w.tx() as s:
        ledger.post(
            s,
            ledger.Doc(reason, "SalesOrderFulfillmentRow", 1, "test"),
            [ledger.Change(bv, w.location_id, Decimal(-2), batch_id)],
        )
    assert exc.value.code == errors.ON_HOLD
    assert "L1" in exc.value.message and "RECALLED: supplier complaint 17" in exc.value.message
    with w.tx() as s:
        assert ledger_snapshot(s) == before
        check_ledger(s)


def test_a_held_serial_cannot_be_shipped_but_a_released_one_can(sessions):
    w = World(sessions).setup()
    _, sv, _, (m1, m2) = _stock(w)
    with w.tx() as s:
        holds.put_serial_hold(s, [m1], "dropped in test")
    doc = ledger.Doc(
        "delivery", "SalesOrderFulfillmentRow", 1, "test", serial_status_out="delivered"
    )
    with pytest.raises(errors.TracelotError) as exc, w.tx() as s:
        ledger.post(s, doc, [ledger.Change(sv, w.location_id, Decimal(-2), serial_ids=[m1, m2])])
    assert exc.value.code == errors.ON_HOLD and "M-1" in exc.value.message
    with w.tx() as s:
        holds.release_serials(s, [m1])
    with w.tx() as s:
        ledger.post(s, doc, [ledger.Change(sv, w.location_id, Decimal(-2), serial_ids=[m1, m2])])
        check_ledger(s)


def test_held_stock_can_still_be_scrapped_by_adjustment(sessions):
    w = World(sessions).setup()
    bv, _, batch_id, _ = _stock(w)
    with w.tx() as s:
        holds.put_batch_hold(s, batch_id, "mould")
    w.adjust(
        [
            {
                "variant_id": bv,
                "quantity": -5,
                "batch_transactions": [{"batch_id": batch_id, "quantity": 5}],
            }
        ]
    )


def test_check_not_on_hold_names_every_hold_for_pickers(sessions):
    w = World(sessions).setup()
    _, _, batch_id, (m1, _) = _stock(w)
    with w.tx() as s:
        holds.put_batch_hold(s, batch_id, "lab test pending")
        holds.put_serial_hold(s, [m1], "lab test pending")
    with pytest.raises(errors.TracelotError) as exc, w.tx() as s:
        holds.check_not_on_hold(s, batch_ids=[batch_id], serial_ids=[m1])
    assert {d.code for d in exc.value.details} == {errors.ON_HOLD}
    assert len(exc.value.details) == 2


def test_hold_api_puts_and_releases(client):
    loc = client.post("/v1/locations", json={"name": "Main"}).json()["id"]
    vid = client.post(
        "/v1/products", json={"name": "P", "batch_tracked": True, "variants": [{"sku": "P1"}]}
    ).json()["variants"][0]["id"]
    adj = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": loc,
            "stock_adjustment_rows": [
                {
                    "variant_id": vid,
                    "quantity": 1,
                    "batch_transactions": [{"batch_number": "B1", "quantity": 1}],
                }
            ],
        },
    ).json()
    bid = adj["stock_adjustment_rows"][0]["batch_transactions"][0]["batch_id"]
    r = client.put(f"/v1/batches/{bid}/hold", json={"reason": "QA", "recalled": True})
    assert r.status_code == 200 and r.json()["hold_reason"] == "RECALLED: QA"
    assert client.delete(f"/v1/batches/{bid}/hold").status_code == 204
    assert client.put("/v1/batches/999/hold", json={}).status_code == 404


def test_a_held_lot_cannot_be_consumed_by_a_manufacturing_order(sessions):
    from support.trace_scenario import _produce, build

    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        holds.put_batch_hold(s, sc.other_lot, "supplier recall", recall=True)
        before = ledger_snapshot(s)
    with pytest.raises(errors.TracelotError) as exc:
        _produce(w, sc.board, "SUB-9", sc.resin, [{"batch_id": sc.other_lot, "quantity": 2}], 2)
    assert exc.value.code == errors.ON_HOLD
    assert "SUP-LOT-8" in exc.value.message
    assert "RECALLED: supplier recall" in exc.value.message
    with w.tx() as s:
        assert ledger_snapshot(s) == before

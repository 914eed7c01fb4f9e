"""Purchase receipts through the services, on SQLite and PostgreSQL (issue 4)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, select

from support.race import while_first_is_open
from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.models import (
    Batch,
    Item,
    Movement,
    PurchaseOrder,
    PurchaseOrderRow,
    PurchaseReceipt,
    Serial,
    SerialTransaction,
    Stock,
)
from tracelot.domain.errors import TracelotError
from tracelot.services import catalog, purchasing


def _po(w: World, rows: list[dict]) -> tuple[int, list[int]]:
    with w.tx() as s:
        sup = catalog.save_supplier(s, None, {"name": "Acme Parts"})
        po = purchasing.create_order(
            s,
            {"supplier_id": sup.id, "location_id": w.location_id, "purchase_order_rows": rows},
            "test",
        )
        return po.id, [r.id for r in purchasing.order_rows(s, po.id)]


def test_receiving_1000_generated_serials_and_3_batches_shows_the_po_as_origin(
    sessions, engine, client
):
    w = World(sessions).setup()
    _, (sensor,) = w.item("Sensor", "serial", kind="material")
    _, (resin,) = w.item("Resin", "batch", kind="material")
    with w.tx() as s:
        s.scalar(select(Item).where(Item.name == "Sensor")).serial_pattern = "SN-{YYYY}-{seq:06}"
    po_id, (serial_row, batch_row) = _po(
        w,
        [
            {"variant_id": sensor, "quantity": 1000, "price_per_unit": 2},
            {"variant_id": resin, "quantity": 30, "price_per_unit": 5},
        ],
    )
    expiries = [date.today() + timedelta(days=d) for d in (30, 60, 90)]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with w.tx() as s:
            purchasing.receive(
                s,
                [
                    {
                        "purchase_order_row_id": serial_row,
                        "quantity": 1000,
                        "generate_serials": True,
                    },
                    {
                        "purchase_order_row_id": batch_row,
                        "quantity": 30,
                        "batch_transactions": [
                            {
                                "batch_number": f"R-{i}",
                                "expiration_date": e,
                                "quantity": 10,
                                "batch_barcode": f"BC{i}",
                            }
                            for i, e in enumerate(expiries, 1)
                        ],
                    },
                ],
                "test",
            )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) < 150  # set-based: never one statement per serial
    with w.tx() as s:
        assert s.get(PurchaseOrder, po_id).status == "RECEIVED"
        year = date.today().year
        numbers = s.scalars(
            select(Serial.serial_number)
            .where(Serial.variant_id == sensor)
            .order_by(Serial.serial_number)
        ).all()
        assert numbers[0] == f"SN-{year}-000001" and numbers[-1] == f"SN-{year}-001000"
        assert (
            s.scalar(select(func.count()).select_from(Serial).where(Serial.status == "in_stock"))
            == 1000
        )
        origins = s.execute(
            select(
                SerialTransaction.resource_type,
                SerialTransaction.resource_id,
                SerialTransaction.quantity_change,
                func.count(),
            ).group_by(
                SerialTransaction.resource_type,
                SerialTransaction.resource_id,
                SerialTransaction.quantity_change,
            )
        ).all()
        assert origins == [("PurchaseOrderRow", serial_row, 1, 1000)]
        batches = {b.batch_number: b for b in s.scalars(select(Batch))}
        assert [batches[f"R-{i}"].expiration_date for i in (1, 2, 3)] == expiries
        assert batches["R-1"].supplier_lot == "R-1" and batches["R-2"].batch_barcode == "BC2"
        stock = dict(
            s.execute(select(Stock.batch_id, Stock.quantity).where(Stock.variant_id == resin)).all()
        )
        assert {batches[f"R-{i}"].id: 10 for i in (1, 2, 3)} == stock
        moves = s.execute(
            select(Movement.reason, Movement.resource_type, Movement.resource_id, Movement.document)
        ).all()
        assert {(m.reason, m.resource_type) for m in moves} == {("receipt", "PurchaseOrderRow")}
        assert {m.document for m in moves} == {f"PO-{po_id}"}
        check_ledger(s)
        first, last = (
            s.scalar(select(Serial.id).where(Serial.serial_number == f"SN-{year}-{n}"))
            for n in ("000001", "001000")
        )
    # The views a user reads (acceptance 1): every serial and batch names the PO as origin.
    page = client.get("/v1/serial_numbers_stock", params={"variant_id": sensor, "limit": 250})
    assert json.loads(page.headers["X-Pagination"])["total_records"] == "1000"
    for sn in page.json()["data"]:
        assert sn["in_stock"] is True
        assert [
            (t["resource_type"], t["resource_id"], t["quantity_change"]) for t in sn["transactions"]
        ] == [("PurchaseOrderRow", str(serial_row), 1)]
    for sid in (first, last):
        (step,) = client.get(f"/v1/serial_numbers/{sid}/history").json()["steps"]
        assert step["event"] == "received" and step["document"] == f"PO-{po_id}"
        assert (step["document_type"], step["document_id"]) == ("purchase_order", po_id)
        assert step["supplier"] == "Acme Parts"
    stocks = client.get("/v1/batch_stocks", params={"variant_id": resin}).json()["data"]
    assert sorted(
        (b["batch_number"], b["quantity_in_stock"], b["expiration_date"][:10], b["supplier_lot"])
        for b in stocks
    ) == [(f"R-{i}", "10", e.isoformat(), f"R-{i}") for i, e in enumerate(expiries, 1)]
    origins = client.get(
        "/v1/trace",
        params={"direction": "backward", "batch_id": [b["batch_id"] for b in stocks]},
    ).json()["origins"]
    assert sorted((o["batch_id"], o["quantity"]) for o in origins) == sorted(
        (b["batch_id"], "10") for b in stocks
    )
    assert {
        (o["resource_type"], o["resource_id"], o["document_type"], o["document_id"], o["supplier"])
        for o in origins
    } == {("PurchaseOrderRow", batch_row, "purchase_order", po_id, "Acme Parts")}


def test_serials_minted_on_the_row_are_received_first_minted_first(sessions):
    w = World(sessions).setup()
    _, (sensor,) = w.item("Sensor", "serial")
    _, (row,) = _po(w, [{"variant_id": sensor, "quantity": 3, "price_per_unit": 1}])
    with w.tx() as s:
        ids = purchasing.link_serials(s, row, ["X-3", "X-1", "X-2"], "t")
        purchasing.receive(s, [{"purchase_order_row_id": row, "quantity": 2}], "t")
        assert [x.id for x in purchasing.minted_serials(s, row)] == [ids[2]]
        assert s.get(Serial, ids[0]).status == "in_stock"
        check_ledger(s)


def test_receiving_a_serial_row_without_serials_is_refused(sessions):
    w = World(sessions).setup()
    _, (sensor,) = w.item("Sensor", "serial")
    _, (row,) = _po(w, [{"variant_id": sensor, "quantity": 2, "price_per_unit": 1}])
    with pytest.raises(TracelotError) as exc, w.tx() as s:
        purchasing.receive(s, [{"purchase_order_row_id": row, "quantity": 2}], "t")
    assert exc.value.code == "MISSING" and "generate_serials" in exc.value.message


def test_batch_allocations_must_add_up_to_the_quantity(sessions):
    w = World(sessions).setup()
    _, (resin,) = w.item("Resin", "batch")
    _, (row,) = _po(w, [{"variant_id": resin, "quantity": 5, "price_per_unit": 1}])
    with w.tx() as s:
        before = ledger_snapshot(s)
    with pytest.raises(TracelotError) as exc, w.tx() as s:
        purchasing.receive(
            s,
            [
                {
                    "purchase_order_row_id": row,
                    "quantity": 5,
                    "batch_transactions": [{"batch_number": "A", "quantity": 4}],
                }
            ],
            "t",
        )
    assert exc.value.code == "QUANTITY_MISMATCH"
    with w.tx() as s:
        assert ledger_snapshot(s) == before
        assert s.scalar(select(func.count()).select_from(Batch)) == 0


def test_a_receipt_reverts_while_its_units_are_in_stock(sessions):
    w = World(sessions).setup()
    _, (sensor,) = w.item("Sensor", "serial")
    po_id, (row,) = _po(w, [{"variant_id": sensor, "quantity": 2, "price_per_unit": 1}])
    with w.tx() as s:
        (receipt,) = purchasing.receive(
            s,
            [{"purchase_order_row_id": row, "quantity": 2, "serial_numbers": ["S-1", "S-2"]}],
            "t",
        )
        rid = receipt.id
    with w.tx() as s:
        purchasing.revert_receipt(s, s.get(PurchaseReceipt, rid), "t")
    with w.tx() as s:
        assert s.get(PurchaseOrder, po_id).status == "NOT_RECEIVED"
        assert s.scalar(select(func.sum(Stock.quantity))) == 0
        check_ledger(s)


def test_reverting_a_receipt_whose_units_left_stock_is_refused_naming_them(sessions):
    w = World(sessions).setup()
    _, (sensor,) = w.item("Sensor", "serial")
    _, (resin,) = w.item("Resin", "batch")
    _, (srow, brow) = _po(
        w,
        [
            {"variant_id": sensor, "quantity": 2, "price_per_unit": 1},
            {"variant_id": resin, "quantity": 5, "price_per_unit": 1},
        ],
    )
    with w.tx() as s:
        r1, r2 = purchasing.receive(
            s,
            [
                {"purchase_order_row_id": srow, "quantity": 2, "serial_numbers": ["S-1", "S-2"]},
                {
                    "purchase_order_row_id": brow,
                    "quantity": 5,
                    "batch_transactions": [{"batch_number": "L7", "quantity": 5}],
                },
            ],
            "t",
        )
        ids = (r1.id, r2.id)
        s1 = s.scalar(select(Serial.id).where(Serial.serial_number == "S-1"))
        l7 = s.scalar(select(Batch.id))
    w.adjust(
        [
            {
                "variant_id": sensor,
                "quantity": -1,
                "traceability": [{"serial_number_id": s1, "quantity": 1}],
            },
            {
                "variant_id": resin,
                "quantity": -2,
                "batch_transactions": [{"batch_id": l7, "quantity": 2}],
            },
        ]
    )
    for rid, name in zip(ids, ("S-1", "L7"), strict=True):
        with w.tx() as s:
            before = ledger_snapshot(s)
        with pytest.raises(TracelotError) as exc, w.tx() as s:
            purchasing.revert_receipt(s, s.get(PurchaseReceipt, rid), "t")
        assert exc.value.code == "IN_USE"
        assert name in exc.value.message
        with w.tx() as s:
            assert ledger_snapshot(s) == before


def test_two_receipts_of_one_row_at_once_never_receive_more_than_ordered(sessions, engine):
    """The PO row is locked before the over-receipt check: the second receipt sees the first."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a race between two connections needs PostgreSQL; SQLite serialises writers")
    w = World(sessions).setup()
    _, (bolt,) = w.item("Bolt", kind="material")
    po_id, (row,) = _po(w, [{"variant_id": bolt, "quantity": 10, "price_per_unit": 1}])

    def receive_six(s):  # type: ignore[no-untyped-def]
        purchasing.receive(s, [{"purchase_order_row_id": row, "quantity": 6}], "t")

    err = while_first_is_open(sessions, engine, receive_six, receive_six)
    assert isinstance(err, TracelotError) and err.code == "QUANTITY_EXCEEDED", err
    assert "received 6" in err.message
    with w.tx() as s:
        assert s.get(PurchaseOrderRow, row).received_quantity == 6
        assert s.scalar(select(func.sum(Stock.quantity)).where(Stock.variant_id == bolt)) == 6
        assert s.get(PurchaseOrder, po_id).status == "PARTIALLY_RECEIVED"
        check_ledger(s)


def test_a_receipt_unblocks_the_mos_waiting_for_it_and_its_revert_blocks_them_again(sessions):
    """The stored status follows (the Make list reads it): set-based, on receipt and revert."""
    from tracelot.db.models import ManufacturingOrder
    from tracelot.services import manufacturing

    w = World(sessions).setup()
    _, (lamp,) = w.item("Lamp")
    _, (resin,) = w.item("Resin", "batch", kind="material")
    with w.tx() as s:
        manufacturing.save_recipe_row(
            s, None, {"product_variant_id": lamp, "ingredient_variant_id": resin, "quantity": 3}
        )
        mos = [
            manufacturing.create_order(
                s, {"variant_id": lamp, "location_id": w.location_id, "planned_quantity": q}, "t"
            ).id
            for q in (2, 5)
        ]
    _, (row,) = _po(w, [{"variant_id": resin, "quantity": 6, "price_per_unit": 1}])
    with w.tx() as s:
        assert [s.get(ManufacturingOrder, m).status for m in mos] == ["BLOCKED", "BLOCKED"]
        (receipt,) = purchasing.receive(
            s,
            [
                {
                    "purchase_order_row_id": row,
                    "quantity": 6,
                    "batch_transactions": [{"batch_number": "RZ-1", "quantity": 6}],
                }
            ],
            "t",
        )
        rid = receipt.id
    with w.tx() as s:
        assert [s.get(ManufacturingOrder, m).status for m in mos] == ["NOT_STARTED", "BLOCKED"]
        purchasing.revert_receipt(s, s.get(PurchaseReceipt, rid), "t")
    with w.tx() as s:
        assert [s.get(ManufacturingOrder, m).status for m in mos] == ["BLOCKED", "BLOCKED"]


def test_the_same_serial_numbers_can_be_received_again_after_a_revert(sessions):
    w = World(sessions).setup()
    _, (sensor,) = w.item("Sensor", "serial")
    po_id, (row,) = _po(w, [{"variant_id": sensor, "quantity": 2, "price_per_unit": 1}])
    entry = {"purchase_order_row_id": row, "quantity": 2, "serial_numbers": ["S-1", "S-2"]}
    with w.tx() as s:
        (receipt,) = purchasing.receive(s, [entry], "t")
        rid = receipt.id
        first_ids = sorted(s.scalars(select(Serial.id)))
    with w.tx() as s:
        purchasing.revert_receipt(s, s.get(PurchaseReceipt, rid), "t")
    with w.tx() as s:
        purchasing.receive(s, [entry], "t")
    with w.tx() as s:
        serials = s.scalars(select(Serial).order_by(Serial.id)).all()
        assert [x.id for x in serials] == first_ids  # the same units, not new records
        assert [(x.serial_number, x.status) for x in serials] == [
            ("S-1", "in_stock"),
            ("S-2", "in_stock"),
        ]
        assert s.get(PurchaseOrder, po_id).status == "RECEIVED"
        steps = s.scalars(
            select(SerialTransaction.reason)
            .where(SerialTransaction.serial_id == first_ids[0])
            .order_by(SerialTransaction.id)
        ).all()
        assert steps == ["receipt", "revert", "receipt"]
        check_ledger(s)


def test_a_serial_minted_on_another_row_is_still_a_duplicate(sessions):
    w = World(sessions).setup()
    _, (sensor,) = w.item("Sensor", "serial")
    _, (r1, r2) = _po(
        w,
        [
            {"variant_id": sensor, "quantity": 1, "price_per_unit": 1},
            {"variant_id": sensor, "quantity": 1, "price_per_unit": 1},
        ],
    )
    with w.tx() as s:
        purchasing.link_serials(s, r1, ["S-1"], "t")
    with pytest.raises(TracelotError) as exc, w.tx() as s:
        purchasing.receive(
            s, [{"purchase_order_row_id": r2, "quantity": 1, "serial_numbers": ["S-1"]}], "t"
        )
    assert exc.value.code == "DUPLICATE" and "S-1" in exc.value.message

"""Acceptance #1: forward and backward traces through three levels, in SQL."""

from __future__ import annotations

from support.trace_scenario import build, serial_id
from support.world import World, check_ledger
from tracelot.services import tracing


def test_forward_trace_of_a_supplier_lot_reaches_exactly_the_affected_deliveries(sessions):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        check_ledger(s)
        t = tracing.trace(s, [tracing.Node(batch_id=sc.lot)], "forward")
    reached = {n.get("serial_number") or n.get("batch_number") for n in t.nodes}
    assert reached == {
        "SUP-LOT-7",
        "SUB-1",
        "SUB-2",
        "SUB-3",
        "SUB-4",
        "FIN-1",
        "FIN-2",
        "FIN-3",
        "FIN-4",
    }
    shipped = {e["customer"]: (e["quantity"], sorted(e["serial_numbers"])) for e in t.events}
    assert shipped == {
        "Alice": (2, ["FIN-1", "FIN-2"]),
        "Bob": (1, ["FIN-3"]),
        "Carol": (1, ["FIN-4"]),
    }  # Dave's unit came from the other lot
    assert all(e["order_no"].startswith("SO-") and e["date"] for e in t.events)
    assert {e["ship_to"] for e in t.events} == {
        "Alice St 1, Metropolis",
        "Bob St 1, Metropolis",
        "Carol St 1, Metropolis",
    }
    assert max(n["level"] for n in t.nodes) == 2


def test_backward_trace_of_a_final_serial_reaches_the_supplier_lot_and_its_receipt(sessions):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        t = tracing.trace(s, [tracing.Node(serial_id=serial_id(w, "FIN-2"))], "backward")
    lots = [n for n in t.nodes if n["kind"] == "batch"]
    assert [(n["batch_number"], n["supplier_lot"], n["level"]) for n in lots] == [
        ("SUP-LOT-7", "ACME-991", 2)
    ]
    assert [
        (e["batch_id"], e["quantity"], e["reason"], e["document"], e["supplier"]) for e in t.events
    ] == [(sc.lot, 10, "receipt", "PO-1", "ACME Resins")]


def test_forward_trace_of_a_final_serial_lists_its_one_shipment(sessions):
    w = World(sessions).setup()
    build(w)
    with w.tx() as s:
        t = tracing.trace(s, [tracing.Node(serial_id=serial_id(w, "FIN-2"))], "forward")
    assert [(e["customer"], e["quantity"], e["serial_numbers"]) for e in t.events] == [
        ("Alice", 1, ["FIN-2"])
    ]
    assert t.totals == {"nodes": 1, "batches": 0, "serials": 1, "events": 1, "quantity": 1}


def test_serial_history_lists_every_step_with_user_and_document(sessions):
    w = World(sessions).setup()
    build(w)
    with w.tx() as s:
        serial = tracing.find_serial(s, serial_number="SUB-1")
        h = tracing.serial_history(s, serial)
    moved = [st for st in h["steps"] if st["quantity_change"]]
    assert [st["event"] for st in moved] == ["produced", "consumed"]
    assert all(st["document"].startswith("MO-") for st in moved)
    assert moved[0]["document"] != moved[1]["document"]
    assert all(st["user"] == "test" for st in h["steps"])
    assert [i["batch_number"] for i in h["made_from"]] == ["SUP-LOT-7"]


def test_trace_and_history_endpoints(client, sessions):
    w = World(sessions).setup()
    sc = build(w)
    r = client.get("/v1/trace", params={"batch_id": sc.lot, "direction": "forward"})
    assert r.status_code == 200, r.text
    assert sorted(e["order_no"] for e in r.json()["shipments"]) == ["SO-1", "SO-2", "SO-3"]
    fin = serial_id(w, "FIN-1")
    r = client.get("/v1/trace", params={"serial_number_id": fin, "direction": "backward"})
    assert [o["quantity"] for o in r.json()["origins"]] == ["10"]
    h = client.get(f"/v1/serial_numbers/{fin}/history").json()
    moved = [st for st in h["steps"] if st["quantity_change"]]
    assert [st["event"] for st in moved] == ["produced", "shipped"]
    assert moved[1]["document"] == "SO-1" and moved[1]["customer"] == "Alice"
    by_number = client.get("/v1/serial_numbers/history", params={"serial_number": "FIN-1"})
    assert by_number.json()["steps"] == h["steps"]
    assert client.get("/v1/trace", params={"bogus": 1}).status_code == 422


def test_a_trace_from_a_batch_and_a_serial_at_once_walks_both(sessions):
    """Several starting points make one recursive query (a compound anchor)."""
    from support.world import World
    from tracelot.services import tracing

    w = World(sessions).setup()
    _, (bv,) = w.item("Resin", "batch")
    _, (sv,) = w.item("Chip", "serial")
    w.adjust(
        [
            {
                "variant_id": bv,
                "quantity": 1,
                "batch_transactions": [{"batch_number": "R-1", "quantity": 1}],
            },
            {"variant_id": sv, "quantity": 1, "serial_numbers": ["C-1"]},
        ]
    )
    with w.tx() as s:
        from sqlalchemy import select

        from tracelot.db.models import Batch, Serial

        batch = s.scalar(select(Batch.id))
        serial = s.scalar(select(Serial.id))
        reached = s.execute(
            select(
                tracing.reach(
                    s, [tracing.Node(batch_id=batch), tracing.Node(serial_id=serial)], "forward"
                )
            )
        ).all()
        assert {(r.batch_id, r.serial_id) for r in reached} == {(batch, None), (None, serial)}


def _receive(w: World, lot_number: str, receipts: list[int]) -> tuple[int, list[int]]:
    """One PO row received in several receipts into one lot: (lot id, receipt ids)."""
    from tracelot.services import batches, catalog, purchasing

    _, (resin,) = w.item("Resin", "batch", "material")
    with w.tx() as s:
        sup = catalog.save_supplier(s, None, {"name": "ACME Resins"})
        lot = batches.create_batch(s, {"batch_number": lot_number, "variant_id": resin}).id
        po = purchasing.create_order(
            s,
            {
                "supplier_id": sup.id,
                "location_id": w.location_id,
                "order_no": "PO-9",
                "purchase_order_rows": [
                    {"variant_id": resin, "quantity": sum(receipts), "price_per_unit": 1}
                ],
            },
            "test",
        )
        row = purchasing.order_rows(s, po.id)[0]
        done = purchasing.receive(
            s,
            [
                {
                    "purchase_order_row_id": row.id,
                    "quantity": q,
                    "batch_transactions": [{"batch_id": lot, "quantity": q}],
                }
                for q in receipts
            ],
            "test",
        )
        return lot, [r.id for r in done]


def test_a_reverted_receipt_no_longer_counts_as_an_origin_of_the_lot(sessions):
    from tracelot.db.models import PurchaseReceipt
    from tracelot.services import purchasing

    w = World(sessions).setup()
    lot, (_, second) = _receive(w, "LOT-R", [10, 6])
    with w.tx() as s:
        purchasing.revert_receipt(s, s.get(PurchaseReceipt, second), "test")
    with w.tx() as s:
        t = tracing.trace(s, [tracing.Node(batch_id=lot)], "backward")
    assert [(e["quantity"], e["reason"], e["document"]) for e in t.events] == [
        (10, "receipt", "PO-9")
    ]


def test_a_fully_reverted_receipt_leaves_the_lot_without_origin(sessions):
    from tracelot.db.models import PurchaseReceipt
    from tracelot.services import purchasing

    w = World(sessions).setup()
    lot, (only,) = _receive(w, "LOT-R", [4])
    with w.tx() as s:
        purchasing.revert_receipt(s, s.get(PurchaseReceipt, only), "test")
    with w.tx() as s:
        assert tracing.trace(s, [tracing.Node(batch_id=lot)], "backward").events == []


def _chain(w: World, length: int, loop: bool = False) -> list[int]:
    """Batches b0 -> b1 -> ... written straight into genealogy (as a mistaken import
    could); with ``loop`` the last one is also an input of the first."""
    from tracelot.db.models import Batch, Genealogy

    _, (v,) = w.item("Mix", "batch")
    with w.tx() as s:
        lots = [Batch(variant_id=v, batch_number=f"M-{i}") for i in range(length)]
        s.add_all(lots)
        s.flush()
        ids = [b.id for b in lots]
        pairs = list(zip(ids, ids[1:], strict=False)) + ([(ids[-1], ids[0])] if loop else [])
        s.add_all(
            Genealogy(
                output_variant_id=v,
                output_batch_id=out,
                input_variant_id=v,
                input_batch_id=inp,
                quantity=1,
                resource_type="Production",
                resource_id=0,
            )
            for inp, out in pairs
        )
    return ids


def test_a_trace_deeper_than_one_query_round_still_reaches_every_level(sessions):
    w = World(sessions).setup()
    ids = _chain(w, tracing.MAX_LEVELS * 2 + 10)
    with w.tx() as s:
        fw = tracing.trace(s, [tracing.Node(batch_id=ids[0])], "forward", limit=None)
        bw = tracing.trace(s, [tracing.Node(batch_id=ids[-1])], "backward", limit=None)
    assert [n["batch_id"] for n in fw.nodes] == ids
    assert [n["level"] for n in fw.nodes] == list(range(len(ids)))
    assert [n["batch_id"] for n in bw.nodes] == ids[::-1]
    assert fw.warnings == [] and bw.warnings == []


def test_a_genealogy_cycle_is_reported_and_each_lot_listed_once(sessions):
    w = World(sessions).setup()
    ids = _chain(w, 3, loop=True)
    with w.tx() as s:
        t = tracing.trace(s, [tracing.Node(batch_id=ids[0])], "forward")
    assert [(n["batch_id"], n["level"]) for n in t.nodes] == [(ids[0], 0), (ids[1], 1), (ids[2], 2)]
    (warning,) = t.warnings
    assert "loops" in warning and all(f"M-{i}" in warning for i in range(3))


def test_serial_history_endpoint_shows_adjustment_transfer_reservation_shipment_and_revert(
    client, sessions
):
    from tracelot.db.models import SalesOrder
    from tracelot.services import catalog, fulfillments, sales, transfers

    w = World(sessions).setup()
    annex = w.location("Annex")
    _, (v,) = w.item("Sensor", "serial")
    w.adjust([{"variant_id": v, "quantity": 1, "serial_numbers": ["S-1"]}])
    unit = serial_id(w, "S-1")
    with w.tx() as s:
        tr = transfers.create(
            s,
            {
                "source_location_id": w.location_id,
                "target_location_id": annex,
                "stock_transfer_rows": [
                    {"variant_id": v, "quantity": 1, "serial_numbers": ["S-1"]}
                ],
            },
            "test",
        )
        transfers.set_status(s, tr, "received", "test")
        cust = catalog.save_customer(
            s,
            None,
            {
                "name": "Erin",
                "email": "erin@example.com",
                "addresses": [{"entity_type": "shipping", "line_1": "Erin St 1", "city": "Gotham"}],
            },
        )
        so = sales.create_order(
            s,
            {
                "customer_id": cust.id,
                "location_id": annex,
                "order_no": "SO-77",
                "sales_order_rows": [{"variant_id": v, "quantity": 1}],
            },
            "test",
        )
        row = sales.live_rows(s, so.id)[0]
        sales.assign_serials(s, row, [unit], "test")
        fulfillments.create(
            s,
            {
                "sales_order_id": so.id,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [{"sales_order_row_id": row.id, "quantity": 1}],
            },
            "test",
        )
        order_id = so.id
    with w.tx() as s:
        fulfillments.revert(s, s.get(SalesOrder, order_id), "test", "NOT_SHIPPED")
    h = client.get(f"/v1/serial_numbers/{unit}/history")
    assert h.status_code == 200, h.text
    steps = h.json()["steps"]
    assert [(st["event"], st.get("location")) for st in steps] == [
        ("adjusted in", "Main"),
        ("reserved", None),  # by the transfer row
        ("transferred out", "Main"),
        ("transferred in", "Annex"),
        ("reserved", None),  # by the sales order row
        ("shipped", "Annex"),
        ("delivery reverted", "Annex"),
    ]
    assert steps[0]["document"].startswith("SA-")
    assert {st["document"] for st in steps[1:4]} == {"ST-1"}
    reserved, shipped, reverted = steps[4], steps[5], steps[6]
    assert (reserved["order_no"], reserved["customer"]) == ("SO-77", "Erin")
    assert (shipped["order_no"], shipped["customer"], shipped["ship_to"]) == (
        "SO-77",
        "Erin",
        "Erin St 1, Gotham",
    )
    assert shipped["delivered_date"] and shipped["at"].startswith(shipped["delivered_date"][:10])
    assert reverted["order_no"] == "SO-77" and reverted["quantity_change"] == 1
    assert all(st["user"] == "test" and st["at"] for st in steps)


def test_trace_pages_its_nodes_and_shipments_and_totals_cover_the_whole_trace(sessions):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        everything = tracing.trace(s, [tracing.Node(batch_id=sc.lot)], "forward", limit=None)
        first = tracing.trace(s, [tracing.Node(batch_id=sc.lot)], "forward", limit=2)
        second = tracing.trace(s, [tracing.Node(batch_id=sc.lot)], "forward", limit=2, page=2)
        beyond = tracing.trace(s, [tracing.Node(batch_id=sc.lot)], "forward", limit=2, page=9)
    assert first.nodes + second.nodes == everything.nodes[:4]
    assert first.events + second.events == everything.events[:3]
    assert len(everything.events) == 3 and beyond.events == [] and beyond.nodes == []
    for t in (everything, first, second, beyond):
        assert t.totals == {
            "nodes": 9,
            "batches": 1,
            "serials": 8,
            "events": 3,
            "quantity": 4,
        }
    assert [(lv["level"], lv["batches"], lv["serials"]) for lv in first.levels] == [
        (0, 1, 0),
        (1, 0, 4),
        (2, 0, 4),
    ]
    assert [(v["sku"], v["batches"], v["serials"]) for v in first.variants] == [
        ("RESIN", 1, 0),
        ("BOARD", 0, 4),
        ("GADGET", 0, 4),
    ]


def test_trace_endpoint_pages_with_x_pagination(client, sessions):
    import json

    w = World(sessions).setup()
    sc = build(w)
    r = client.get("/v1/trace", params={"batch_id": sc.lot, "limit": 2, "page": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["nodes"]) == 2 and len(body["shipments"]) == 1
    assert body["totals"] == {
        "nodes": 9,
        "batches": 1,
        "serials": 8,
        "events": 3,
        "quantity": "4",
    }
    paging = json.loads(r.headers["X-Pagination"])
    assert (paging["total_records"], paging["total_pages"], paging["page"]) == ("9", "5", "2")
    assert paging["first_page"] == "false" and paging["last_page"] == "false"

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

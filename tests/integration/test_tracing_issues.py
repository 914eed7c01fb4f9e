"""GET /tracing_issues: every kind of issue, with ids and links, paged like Katana lists."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import select

from support.world import World, shipped_without_serials
from tracelot.db.models import Item, Serial
from tracelot.services import batches, catalog, holds


def _issues(client, **params):
    r = client.get("/v1/tracing_issues", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _lot(w: World, variant_id: int, number: str, expires: date | None, qty: int = 4) -> int:
    with w.tx() as s:
        bid = batches.create_batch(
            s, {"batch_number": number, "variant_id": variant_id, "expiration_date": expires}
        ).id
    w.adjust(
        [
            {
                "variant_id": variant_id,
                "quantity": qty,
                "batch_transactions": [{"batch_id": bid, "quantity": qty}],
            }
        ]
    )
    return bid


def test_an_order_that_shipped_units_without_serials_is_listed_with_its_rows(client, sessions):
    w = World(sessions).setup()
    oid, rid, no = shipped_without_serials(w)
    (issue,) = _issues(client)
    assert issue["kind"] == "missing_serials"
    assert issue["counts"] == {"missing_serial_numbers": 2}
    assert issue["ids"] == {"sales_order_id": oid, "sales_order_row_ids": [rid]}
    assert issue["links"] == {"api": f"/v1/sales_orders/{oid}", "web": f"/sell/{oid}"}
    assert no in issue["message"] and "Ada" in issue["message"]
    assert client.get(issue["links"]["api"]).status_code == 200


def test_serial_stock_not_connected_to_serials_is_listed_per_location(client, sessions):
    w = World(sessions).setup()
    item, (v,) = w.item("Drill")
    w.adjust([{"variant_id": v, "quantity": 5}])
    with w.tx() as s:
        catalog.update_item(s, s.get(Item, item), {"serial_tracked": True}, "t")
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
    (issue,) = _issues(client)
    assert issue["kind"] == "serials_not_connected"
    assert issue["counts"] == {"missing_serial_numbers": "2"}
    assert issue["ids"] == {"item_id": item, "variant_id": v, "location_id": w.location_id}
    assert issue["links"]["web"] == f"/items/{item}"
    assert "Main" in issue["message"] and "stock adjustment" in issue["message"]
    gaps = client.get(issue["links"]["api"]).json()["data"]
    assert gaps[0]["missing_serial_numbers"] in (2, "2")


def test_expired_and_expiring_batches_with_stock_are_listed_by_urgency(client, sessions):
    w = World(sessions).setup()
    _, (v,) = w.item("Milk", "batch", "material")
    today = date.today()
    old = _lot(w, v, "OLD", today - timedelta(days=3))
    soon = _lot(w, v, "SOON", today + timedelta(days=10))
    later = _lot(w, v, "LATER", today + timedelta(days=90))
    _lot(w, v, "FOREVER", None)
    gone = _lot(w, v, "GONE", today - timedelta(days=30), qty=2)
    w.adjust(
        [
            {
                "variant_id": v,
                "quantity": -2,
                "batch_transactions": [{"batch_id": gone, "quantity": 2}],
            }
        ]
    )
    issues = _issues(client)
    assert [(i["kind"], i["ids"]["batch_id"]) for i in issues] == [
        ("batch_expired", old),
        ("batch_expiring", soon),
    ]
    expired = issues[0]
    assert expired["counts"] == {"quantity_in_stock": "4"}
    assert expired["locations"] == [
        {"location_id": w.location_id, "location": "Main", "quantity": "4"}
    ]
    assert expired["links"] == {
        "api": f"/v1/batch_stocks?batch_id={old}",
        "web": f"/stock/batches/{old}",
    }
    assert "OLD" in expired["message"] and "expired" in expired["message"]
    wider = _issues(client, expiring_within_days=120)
    assert [i["ids"]["batch_id"] for i in wider] == [old, soon, later]
    assert _issues(client, kind="batch_expiring", expiring_within_days=0) == []


def test_held_batches_and_serials_with_stock_are_listed_with_their_hold(client, sessions):
    w = World(sessions).setup()
    _, (bv,) = w.item("Flour", "batch", "material")
    _, (sv,) = w.item("Mixer", "serial")
    lot = _lot(w, bv, "L1", None, qty=5)
    w.adjust([{"variant_id": sv, "quantity": 3, "serial_numbers": ["M-1", "M-2", "M-3"]}])
    with w.tx() as s:
        m = dict(s.execute(select(Serial.serial_number, Serial.id)).all())
        holds.put_batch_hold(s, lot, "lab test pending")
        holds.put_serial_hold(s, [m["M-1"], m["M-2"]], "dropped", recall=True)
    batch_issue, serial_issue = _issues(client)
    assert (
        batch_issue["kind"] == "batch_on_hold" and batch_issue["hold_reason"] == "lab test pending"
    )
    assert batch_issue["ids"]["batch_id"] == lot and "L1" in batch_issue["message"]
    assert serial_issue["kind"] == "serials_on_hold"
    assert serial_issue["hold_reason"] == "RECALLED: dropped"
    assert serial_issue["counts"] == {"serial_numbers": 2}
    assert serial_issue["ids"] == {"variant_id": sv, "serial_number_ids": [m["M-1"], m["M-2"]]}
    assert "M-1, M-2" in serial_issue["message"]
    with w.tx() as s:
        holds.release_batch(s, lot)
        holds.release_serials(s, [m["M-1"]])
    (left,) = _issues(client)
    assert left["counts"] == {"serial_numbers": 1}
    assert left["links"]["web"] == f"/stock/serials/{m['M-2']}"


def test_the_issue_list_pages_filters_by_kind_and_refuses_other_filters(client, sessions):
    w = World(sessions).setup()
    _, (v,) = w.item("Milk", "batch", "material")
    for n in range(5):
        _lot(w, v, f"E{n}", date.today() - timedelta(days=n + 1), qty=1)
    r = client.get("/v1/tracing_issues", params={"limit": 2, "page": 3})
    page = json.loads(r.headers["X-Pagination"])
    assert (page["total_records"], page["total_pages"], page["last_page"]) == ("5", "3", "true")
    assert len(r.json()["data"]) == 1
    assert _issues(client, kind="missing_serials") == []
    assert len(_issues(client, kind=["missing_serials", "batch_expired"])) == 5
    bad = client.get("/v1/tracing_issues", params={"ids": 1})
    assert bad.status_code == 422 and bad.json()["code"] == "UNSUPPORTED_FILTER"
    assert client.get("/v1/tracing_issues", params={"kind": "nope"}).status_code == 422


def test_every_kind_is_served_by_an_index_over_live_rows_only():
    """SQLite's plan: no table is scanned without an index (depleted stock, old orders,
    released serials are never read)."""
    from sqlalchemy import create_engine, text

    from tracelot.db.base import Base
    from tracelot.services import tracing_issues

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    sql = str(tracing_issues.query().compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as c:
        plan = [r[3] for r in c.execute(text("EXPLAIN QUERY PLAN " + sql))]
    scans = [p for p in plan if p.startswith("SCAN ") and "USING" not in p]
    assert [p for p in scans if not p.startswith(("SCAN issues", "SCAN anon"))] == []
    assert any("ix_stock_on_hand" in p for p in plan)
    assert any("ix_serials_on_hold" in p for p in plan)
    assert any("ix_sales_orders_tracing" in p for p in plan)

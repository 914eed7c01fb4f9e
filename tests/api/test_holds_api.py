"""Acceptance #6 over HTTP: held batches and serials are never shipped or picked for a sales
row through the Katana-compatible API; the error is ON_HOLD and names the hold."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from support.world import check_ledger, ledger_snapshot
from tracelot.db.engine import transaction
from tracelot.db.models import SalesOrder
from tracelot.services import holds


def ok(r):  # type: ignore[no-untyped-def]
    assert r.status_code == 200, r.text
    return r.json()


def refused(r, code: str):  # type: ignore[no-untyped-def]
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code, r.text
    return r.json()


def setup(client, tracking: str = "serial", sku: str = "GR-1"):  # type: ignore[no-untyped-def]
    loc = ok(client.post("/v1/locations", json={"name": "Main", "is_primary": True}))["id"]
    flags = {"serial_tracked": tracking == "serial", "batch_tracked": tracking == "batch"}
    prod = ok(
        client.post("/v1/products", json={"name": "Grinder", **flags, "variants": [{"sku": sku}]})
    )
    cust = ok(client.post("/v1/customers", json={"name": "Ada"}))
    return loc, prod["variants"][0]["id"], cust["id"]


def _adjust(client, loc: int, row: dict) -> None:  # type: ignore[no-untyped-def]
    ok(
        client.post(
            "/v1/stock_adjustments", json={"location_id": loc, "stock_adjustment_rows": [row]}
        )
    )


def receive_serials(client, loc: int, vid: int, spec: str, qty: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    _adjust(client, loc, {"variant_id": vid, "quantity": qty, "serial_numbers": [spec]})
    rows = ok(client.get("/v1/serial_numbers_stock", params={"limit": 250}))["data"]
    return {s["serial_number"]: s["id"] for s in rows}


def _batches(client, loc: int, vid: int, days: list[int], qty: int = 4) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for i, d in enumerate(days):
        expiry = (date.today() + timedelta(days=d)).isoformat()
        b = ok(
            client.post(
                "/v1/batches",
                json={"batch_number": f"L{i}", "variant_id": vid, "expiration_date": expiry},
            )
        )
        _adjust(
            client,
            loc,
            {
                "variant_id": vid,
                "quantity": qty,
                "batch_transactions": [{"batch_id": b["id"], "quantity": qty}],
            },
        )
        ids.append(b["id"])
    return ids


def new_order(client, cust: int, vid: int, qty: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    so = ok(
        client.post(
            "/v1/sales_orders",
            json={"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": qty}]},
        )
    )
    return so["id"], so["sales_order_rows"][0]["id"]


def _fulfil(client, so: int, row: int, qty: int, **extra):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/sales_order_fulfillments",
        json={
            "sales_order_id": so,
            "status": "DELIVERED",
            "sales_order_fulfillment_rows": [{"sales_order_row_id": row, "quantity": qty, **extra}],
        },
    )


def _unchanged(sessions, before, so: int) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before
        assert s.scalar(select(SalesOrder.status).where(SalesOrder.id == so)) == "NOT_SHIPPED"
        check_ledger(s)


def _snapshot(sessions):  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        return ledger_snapshot(s)


def test_a_held_batch_picked_on_the_row_cannot_be_shipped(client, sessions):
    loc, vid, cust = setup(client, "batch", "BN-1")
    (lot,) = _batches(client, loc, vid, [30])
    so, row = new_order(client, cust, vid, 2)
    ok(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"batch_transactions": [{"batch_id": lot, "quantity": 2}]},
        )
    )
    ok(client.put(f"/v1/batches/{lot}/hold", json={"reason": "salmonella", "recalled": True}))
    before = _snapshot(sessions)
    body = refused(_fulfil(client, so, row, 2), "ON_HOLD")
    assert "L0" in body["message"] and "RECALLED: salmonella" in body["message"]
    assert body["details"][0]["info"]["hold_reason"] == "RECALLED: salmonella"
    _unchanged(sessions, before, so)
    assert client.delete(f"/v1/batches/{lot}/hold").status_code == 204
    assert ok(_fulfil(client, so, row, 2))["status"] == "DELIVERED"


def test_a_held_batch_named_on_the_fulfilment_row_cannot_be_shipped(client, sessions):
    loc, vid, cust = setup(client, "batch", "BN-1")
    held, _ = _batches(client, loc, vid, [10, 20])
    so, row = new_order(client, cust, vid, 2)
    with transaction(sessions) as s:
        holds.put_batch_hold(s, held, "lab test pending")
    before = _snapshot(sessions)
    body = refused(
        _fulfil(client, so, row, 2, batch_transactions=[{"batch_id": held, "quantity": 2}]),
        "ON_HOLD",
    )
    assert "lab test pending" in body["message"] and "L0" in body["message"]
    _unchanged(sessions, before, so)


def test_a_held_serial_cannot_be_picked_for_a_sales_row_or_shipped(client, sessions):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "H-1..H-3", 3)
    so, row = new_order(client, cust, vid, 1)
    ok(client.put(f"/v1/serial_numbers/{sn['H-1']}/hold", json={"reason": "dropped"}))
    before = _snapshot(sessions)
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": sn["H-1"], "quantity": 1}]},
        ),
        "ON_HOLD",
    )
    assert "H-1" in body["message"] and "dropped" in body["message"]
    body = refused(_fulfil(client, so, row, 1, serial_numbers=[sn["H-1"]]), "ON_HOLD")
    assert "H-1" in body["message"] and "dropped" in body["message"]
    _unchanged(sessions, before, so)


def test_a_serial_held_after_it_was_picked_cannot_be_shipped(client, sessions):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "H-1..H-2", 2)
    so, row = new_order(client, cust, vid, 1)
    ok(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": sn["H-2"], "quantity": 1}]},
        )
    )
    with transaction(sessions) as s:
        holds.put_serial_hold(s, [sn["H-2"]], "customer complaint", recall=True)
    before = _snapshot(sessions)
    body = refused(_fulfil(client, so, row, 1), "ON_HOLD")
    assert "H-2" in body["message"] and "RECALLED: customer complaint" in body["message"]
    _unchanged(sessions, before, so)

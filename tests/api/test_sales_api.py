"""Sales orders over HTTP (issue 3): make-to-stock, tracing, revert, FEFO, picker."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from support.world import check_ledger, ledger_snapshot
from tracelot.db.engine import transaction
from tracelot.services import holds


def ok(r):  # type: ignore[no-untyped-def]
    assert r.status_code == 200, r.text
    return r.json()


def refused(r, code: str):  # type: ignore[no-untyped-def]
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == code, body
    return body


def setup(client, tracking: str = "serial", sku: str = "GR-1"):  # type: ignore[no-untyped-def]
    loc = ok(client.post("/v1/locations", json={"name": "Main", "is_primary": True}))["id"]
    flags = {"serial_tracked": tracking == "serial", "batch_tracked": tracking == "batch"}
    prod = ok(
        client.post(
            "/v1/products", json={"name": "Grinder " + sku, **flags, "variants": [{"sku": sku}]}
        )
    )
    cust = ok(client.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"}))
    return loc, prod["variants"][0]["id"], cust["id"]


def receive_serials(client, loc: int, vid: int, spec: str, qty: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ok(
        client.post(
            "/v1/stock_adjustments",
            json={
                "location_id": loc,
                "stock_adjustment_rows": [
                    {"variant_id": vid, "quantity": qty, "serial_numbers": [spec]}
                ],
            },
        )
    )
    rows = ok(client.get("/v1/serial_numbers_stock", params={"limit": 250}))["data"]
    return {s["serial_number"]: s["id"] for s in rows}


def new_order(client, cust: int, vid: int, qty: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    so = ok(
        client.post(
            "/v1/sales_orders",
            json={
                "customer_id": cust,
                "sales_order_rows": [{"variant_id": vid, "quantity": qty, "price_per_unit": 10}],
            },
        )
    )
    return so["id"], so["sales_order_rows"][0]["id"]


def test_make_to_stock_missing_serial_warning_until_assigned_then_deliver_and_revert(
    client, sessions
):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "G-1..G-5", 5)
    so, row = new_order(client, cust, vid, 3)
    f = ok(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so,
                "status": "PACKED",
                "sales_order_fulfillment_rows": [
                    {
                        "sales_order_row_id": row,
                        "quantity": 3,
                        "serial_numbers": [sn["G-1"], sn["G-2"]],
                    }
                ],
            },
        )
    )
    assert sorted(f["sales_order_fulfillment_rows"][0]["serial_numbers"]) == sorted(
        [sn["G-1"], sn["G-2"]]
    )
    order = ok(client.get(f"/v1/sales_orders/{so}"))
    assert order["status"] == "PACKED"
    assert order["missing_serial_numbers"] == 1 and order["tracing_status"] == "missing"
    assert order["sales_order_rows"][0]["missing_serial_numbers"] == 1
    listed = ok(client.get("/v1/sales_orders", params={"tracing_status": "missing"}))["data"]
    assert [o["id"] for o in listed] == [so]

    ok(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": sn["G-3"], "quantity": 1}]},
        )
    )
    order = ok(client.get(f"/v1/sales_orders/{so}"))
    assert order["missing_serial_numbers"] == 0 and order["tracing_status"] == "complete"
    assert ok(client.get("/v1/sales_orders", params={"tracing_status": "missing"}))["data"] == []

    ok(client.patch(f"/v1/sales_order_fulfillments/{f['id']}", json={"status": "DELIVERED"}))
    assert ok(client.get(f"/v1/sales_orders/{so}"))["status"] == "DELIVERED"
    stock = {
        s["serial_number"]: s
        for s in ok(client.get("/v1/serial_numbers_stock", params={"limit": 250}))["data"]
    }
    assert all(not stock[n]["in_stock"] for n in ("G-1", "G-2", "G-3"))
    assert stock["G-4"]["in_stock"]
    for n in ("G-1", "G-2", "G-3", "G-4"):  # each of the 3 went to Ada, on this order
        steps = ok(client.get(f"/v1/serial_numbers/{sn[n]}/history"))["steps"]
        out = [
            (st["customer_id"], st["customer"], st["order_no"])
            for st in steps
            if st["resource_type"] == "SalesOrderFulfillmentRow" and st["quantity_change"] == -1
        ]
        assert out == ([] if n == "G-4" else [(cust, "Ada", order["order_no"])]), (n, steps)

    reverted = ok(client.post(f"/v1/sales_orders/{so}/revert"))
    assert reverted["status"] == "NOT_SHIPPED"
    stock = {
        s["serial_number"]: s
        for s in ok(client.get("/v1/serial_numbers_stock", params={"limit": 250}))["data"]
    }
    assert all(stock[n]["in_stock"] for n in ("G-1", "G-2", "G-3"))
    moves = ok(client.get("/v1/inventory_movements", params={"variant_ids": vid}))["data"]
    changes = sorted(float(m["quantity_change"]) for m in moves)
    # The short pack takes all 3 units out at once (stock stays true); the revert returns 3.
    assert -3 in changes and 3 in changes and -2 not in changes
    with transaction(sessions) as s:
        check_ledger(s)


def test_two_orders_cannot_hold_the_same_serial(client):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "G-1..G-2", 2)
    _, row_a = new_order(client, cust, vid, 1)
    _, row_b = new_order(client, cust, vid, 1)
    ok(
        client.patch(
            f"/v1/sales_order_rows/{row_a}",
            json={"serial_number_transactions": [{"serial_number_id": sn["G-1"], "quantity": 1}]},
        )
    )
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{row_b}",
            json={"serial_number_transactions": [{"serial_number_id": sn["G-1"], "quantity": 1}]},
        ),
        "NOT_IN_STOCK",
    )
    assert "G-1" in body["message"]


def test_serial_picker_lists_free_serials_by_prefix_and_scan(client):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "AB-1..AB-3", 3)
    receive_serials(client, loc, vid, "CD-1..CD-2", 2)
    _, row_a = new_order(client, cust, vid, 1)
    _, row_b = new_order(client, cust, vid, 2)
    ok(
        client.patch(
            f"/v1/sales_order_rows/{row_a}",
            json={"serial_number_transactions": [{"serial_number_id": sn["AB-1"], "quantity": 1}]},
        )
    )
    picked = ok(client.get(f"/v1/sales_order_rows/{row_b}/serial_picker", params={"q": "AB"}))
    assert [s["serial_number"] for s in picked["data"]] == ["AB-2", "AB-3"]
    scan = "(01)09506000134352(21)CD-2"
    found = ok(client.get(f"/v1/sales_order_rows/{row_b}/serial_picker", params={"scan": scan}))
    assert [s["serial_number"] for s in found["data"]] == ["CD-2"]
    held = refused(
        client.get(f"/v1/sales_order_rows/{row_b}/serial_picker", params={"scan": "(21)AB-1"}),
        "NOT_IN_STOCK",
    )
    assert "AB-1" in held["message"]


def test_serials_on_hold_are_never_pickable(client, sessions):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "H-1..H-2", 2)
    _, row = new_order(client, cust, vid, 1)
    with transaction(sessions) as s:
        holds.put_serial_hold(s, [sn["H-1"]], "customer complaint")
    picked = ok(client.get(f"/v1/sales_order_rows/{row}/serial_picker"))
    assert [s["serial_number"] for s in picked["data"]] == ["H-2"]
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": sn["H-1"], "quantity": 1}]},
        ),
        "ON_HOLD",
    )
    assert "customer complaint" in body["message"]


def _batches(client, loc: int, vid: int, days: list[int], qty: int = 4) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for i, d in enumerate(days):
        b = ok(
            client.post(
                "/v1/batches",
                json={
                    "batch_number": f"L{i}",
                    "variant_id": vid,
                    "expiration_date": (date.today() + timedelta(days=d)).isoformat(),
                },
            )
        )
        ids.append(b["id"])
        ok(
            client.post(
                "/v1/stock_adjustments",
                json={
                    "location_id": loc,
                    "stock_adjustment_rows": [
                        {
                            "variant_id": vid,
                            "quantity": qty,
                            "batch_transactions": [{"batch_id": b["id"], "quantity": qty}],
                        }
                    ],
                },
            )
        )
    return ids


def test_fefo_proposal_takes_the_earliest_expiry_first_and_spans_batches(client):
    loc, vid, cust = setup(client, "batch", "BN-1")
    b10, b20, b5 = _batches(client, loc, vid, [10, 20, 5])
    _, row = new_order(client, cust, vid, 6)
    prop = ok(client.get(f"/v1/sales_order_rows/{row}/batch_proposal"))
    assert [(p["batch_id"], p["quantity"]) for p in prop["data"]] == [(b5, "4"), (b10, "2")]
    so = ok(client.get(f"/v1/sales_order_rows/{row}"))["sales_order_id"]
    f = ok(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [{"sales_order_row_id": row}],
            },
        )
    )
    shipped = {
        b["batch_id"]: b["quantity"]
        for b in f["sales_order_fulfillment_rows"][0]["batch_transactions"]
    }
    assert shipped == {b5: 4.0, b10: 2.0}
    assert ok(client.get(f"/v1/sales_orders/{so}"))["tracing_status"] == "complete"


def test_an_expired_batch_is_refused_unless_explicitly_allowed(client, sessions):
    loc, vid, cust = setup(client, "batch", "BN-1")
    expired, fresh = _batches(client, loc, vid, [-3, 30])
    _, row = new_order(client, cust, vid, 2)
    prop = ok(client.get(f"/v1/sales_order_rows/{row}/batch_proposal"))
    assert [p["batch_id"] for p in prop["data"]] == [fresh]
    allowed = ok(
        client.get(f"/v1/sales_order_rows/{row}/batch_proposal", params={"allow_expired": "true"})
    )
    assert allowed["data"][0]["batch_id"] == expired and allowed["data"][0]["expired"] is True
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"batch_transactions": [{"batch_id": expired, "quantity": 2}]},
        ),
        "EXPIRED_BATCH",
    )
    assert "L0" in body["message"] and "allow_expired" in body["message"]
    ok(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={
                "batch_transactions": [{"batch_id": expired, "quantity": 2}],
                "allow_expired": True,
            },
        )
    )
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before
        holds.put_batch_hold(s, fresh, "lab test pending")
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"batch_transactions": [{"batch_id": fresh, "quantity": 2}]},
        ),
        "ON_HOLD",
    )
    assert "lab test pending" in body["message"]


def test_assigning_to_a_delivered_order_is_refused_with_revert_first(client):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "G-1..G-2", 2)
    so, row = new_order(client, cust, vid, 1)
    ok(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [{"sales_order_row_id": row, "quantity": 1}],
            },
        )
    )
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": sn["G-1"], "quantity": 1}]},
        ),
        "ORDER_DELIVERED",
    )
    assert "revert" in body["message"]
    done = ok(
        client.post(
            f"/v1/sales_orders/{so}/revert_assign_deliver",
            json={"rows": [{"sales_order_row_id": row, "serial_numbers": [sn["G-1"]]}]},
        )
    )
    assert (done["status"], done["missing_serial_numbers"]) == ("DELIVERED", 0)


def test_delete_fulfilment_is_a_full_revert(client, sessions):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "G-1..G-2", 2)
    so, row = new_order(client, cust, vid, 2)
    f = ok(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [
                    {"sales_order_row_id": row, "serial_numbers": [sn["G-1"], sn["G-2"]]}
                ],
            },
        )
    )
    assert client.delete(f"/v1/sales_order_fulfillments/{f['id']}").status_code == 204
    order = ok(client.get(f"/v1/sales_orders/{so}"))
    assert order["status"] == "NOT_SHIPPED"
    assert sorted(order["sales_order_rows"][0]["serial_numbers"]) == sorted(sn.values())
    with transaction(sessions) as s:
        check_ledger(s)


def test_an_order_with_a_store_order_id_is_created_once(client):
    loc, vid, cust = setup(client)
    body = {
        "customer_id": cust,
        "ecommerce_order_type": "shopify",
        "ecommerce_order_id": 991,
        "sales_order_rows": [{"variant_id": vid, "quantity": 1}],
    }
    assert ok(client.post("/v1/sales_orders", json=body))["ecommerce_order_id"] == "991"
    refused(client.post("/v1/sales_orders", json=body), "DUPLICATE")


def test_a_batch_picked_for_one_order_is_held_from_the_next(client):
    """SPEC §3: batch rows pick the way serials do — what another order holds is not free."""
    loc, vid, cust = setup(client, "batch", "BN-9")
    b10, b20 = _batches(client, loc, vid, [10, 20])  # 4 units each
    _, first = new_order(client, cust, vid, 3)
    ok(
        client.patch(
            f"/v1/sales_order_rows/{first}",
            json={"batch_transactions": [{"batch_id": b10, "quantity": 3}]},
        )
    )
    _, second = new_order(client, cust, vid, 3)
    prop = ok(client.get(f"/v1/sales_order_rows/{second}/batch_proposal"))
    assert [(p["batch_id"], p["quantity"]) for p in prop["data"]] == [(b10, "1"), (b20, "2")]
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{second}",
            json={"batch_transactions": [{"batch_id": b10, "quantity": 2}]},
        ),
        "NOT_IN_STOCK",
    )
    assert "picked for other orders" in body["message"]
    ok(
        client.patch(
            f"/v1/sales_order_rows/{second}",
            json={
                "batch_transactions": [
                    {"batch_id": b10, "quantity": 1},
                    {"batch_id": b20, "quantity": 2},
                ]
            },
        )
    )


def _fulfil_batches(client, so: int, row: int, picks: list[tuple[int, int]], key: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/sales_order_fulfillments",
        json={
            "sales_order_id": so,
            "status": "DELIVERED",
            "sales_order_fulfillment_rows": [
                {
                    "sales_order_row_id": row,
                    "quantity": 2,
                    key: [{"batch_id": b, "quantity": q} for b, q in picks],
                }
            ],
        },
    )


@pytest.mark.parametrize("key", ["batch_transactions", "traceability"])
@pytest.mark.parametrize(
    ("picks", "code", "path"),
    [
        ([(0, 5), (1, -3)], "VALIDATION_FAILED", "[1].quantity"),
        ([(0, 2), (1, 0)], "VALIDATION_FAILED", "[1].quantity"),
        ([(0, 1)], "QUANTITY_MISMATCH", ""),
        ([(0, 2), (1, 1)], "QUANTITY_MISMATCH", ""),
    ],
)
def test_a_fulfilment_naming_batch_quantities_that_are_not_positive_or_miss_the_row_is_refused(
    client, sessions, key, picks, code, path
):
    loc, vid, cust = setup(client, "batch", "BN-2")
    batch_ids = _batches(client, loc, vid, [10, 20], qty=5)
    so, row = new_order(client, cust, vid, 2)
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    body = refused(
        _fulfil_batches(client, so, row, [(batch_ids[i], q) for i, q in picks], key), code
    )
    detail = body["details"][0]
    assert detail["path"] == f"sales_order_fulfillment_rows[0].{key}{path}"
    assert body["message"] and ("above 0" in body["message"] or "cover" in body["message"])
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before
    assert ok(client.get(f"/v1/sales_orders/{so}"))["status"] == "NOT_SHIPPED"


def test_a_fulfilment_cannot_ship_batch_stock_another_order_has_picked(client, sessions):
    """Named batches are checked like picks; the FEFO proposal skips what others hold."""
    loc, vid, cust = setup(client, "batch", "BN-8")
    b10, b20 = _batches(client, loc, vid, [10, 20])  # 4 units each
    _, first = new_order(client, cust, vid, 3)
    ok(
        client.patch(
            f"/v1/sales_order_rows/{first}",
            json={"batch_transactions": [{"batch_id": b10, "quantity": 3}]},
        )
    )
    so, second = new_order(client, cust, vid, 3)
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    body = refused(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [
                    {
                        "sales_order_row_id": second,
                        "quantity": 3,
                        "batch_transactions": [{"batch_id": b10, "quantity": 3}],
                    }
                ],
            },
        ),
        "NOT_IN_STOCK",
    )
    assert "L0" in body["message"] and "picked for other orders" in body["message"]
    assert body["details"][0]["path"] == "sales_order_fulfillment_rows[0].batch_transactions"
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before
    f = ok(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [{"sales_order_row_id": second}],
            },
        )
    )
    shipped = {
        b["batch_id"]: b["quantity"]
        for b in f["sales_order_fulfillment_rows"][0]["batch_transactions"]
    }
    assert shipped == {b10: 1.0, b20: 2.0}
    with transaction(sessions) as s:
        check_ledger(s)


def test_adding_a_row_to_a_packed_order_is_refused_as_packed_not_delivered(client, sessions):
    loc, vid, cust = setup(client)
    receive_serials(client, loc, vid, "G-1", 1)
    so, row = new_order(client, cust, vid, 1)
    ok(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so,
                "status": "PACKED",
                "sales_order_fulfillment_rows": [{"sales_order_row_id": row}],
            },
        )
    )
    body = refused(
        client.post(
            "/v1/sales_order_rows", json={"sales_order_id": so, "variant_id": vid, "quantity": 1}
        ),
        "IN_USE",
    )
    assert "PACKED" in body["message"] and "revert" in body["message"]
    assert body["details"][0]["path"] == "sales_order_id"
    assert len(ok(client.get(f"/v1/sales_orders/{so}"))["sales_order_rows"]) == 1

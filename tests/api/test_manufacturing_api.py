"""Manufacturing and purchasing over HTTP (issue 4), on SQLite and PostgreSQL."""

from __future__ import annotations

from support.world import check_ledger


def _item(client, name, tracking, kind="products", **extra):
    body = {
        "name": name,
        "variants": [{"sku": name.upper()}],
        "batch_tracked": tracking == "batch",
        "serial_tracked": tracking == "serial",
        **extra,
    }
    r = client.post(f"/v1/{kind}", json=body)
    assert r.status_code == 200, r.text
    return r.json()["variants"][0]["id"]


def _location(client):
    r = client.post("/v1/locations", json={"name": "Main", "is_primary": True})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def test_make_to_order_end_to_end_delivers_the_produced_serials(client, sessions):
    loc = _location(client)
    bike = _item(client, "Bike", "serial")
    frame = _item(client, "Frame", "batch", kind="materials")
    client.post(
        "/v1/recipe_rows",
        json={"product_variant_id": bike, "ingredient_variant_id": frame, "quantity": 1},
    )
    r = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": loc,
            "stock_adjustment_rows": [
                {
                    "variant_id": frame,
                    "quantity": 5,
                    "batch_transactions": [{"batch_number": "F-1", "quantity": 5}],
                }
            ],
        },
    )
    assert r.status_code == 200, r.text
    cust = client.post("/v1/customers", json={"name": "Ada"}).json()["id"]
    so = client.post(
        "/v1/sales_orders",
        json={
            "customer_id": cust,
            "location_id": loc,
            "sales_order_rows": [{"variant_id": bike, "quantity": 2}],
        },
    )
    assert so.status_code == 200, so.text
    row_id = so.json()["sales_order_rows"][0]["id"]

    mo = client.post(
        "/v1/manufacturing_order_make_to_order", json={"sales_order_row_id": float(row_id)}
    )
    assert mo.status_code == 200, mo.text
    mo = mo.json()
    assert mo["is_linked_to_sales_order"] is True and mo["sales_order_row_id"] == row_id
    assert mo["planned_quantity"] == 2
    again = client.post(
        "/v1/manufacturing_order_make_to_order", json={"sales_order_row_id": row_id}
    )
    assert again.status_code == 422 and again.json()["code"] == "ALREADY_LINKED"
    row = client.get(f"/v1/sales_order_rows/{row_id}").json()
    assert row["linked_manufacturing_order_id"] == mo["id"]

    prod = client.post(
        "/v1/manufacturing_order_productions",
        json={
            "manufacturing_order_id": mo["id"],
            "completed_quantity": 2,
            "new_serial_numbers": ["BK-1", "BK-2"],
        },
    )
    assert prod.status_code == 200, prod.text
    made = prod.json()["serial_numbers"]
    assert [s["serial_number"] for s in made] == ["BK-1", "BK-2"]
    assert {s["resource_type"] for s in made} == {"Production"}
    assert prod.json()["ingredients"][0]["batch_transactions"][0]["quantity"] == 2

    row = client.get(f"/v1/sales_order_rows/{row_id}").json()
    assert sorted(row["serial_numbers"]) == sorted(s["id"] for s in made)
    assert row["tracing_status"] == "complete"
    assert client.get(f"/v1/manufacturing_orders/{mo['id']}").json()["status"] == "DONE"

    f = client.post(
        "/v1/sales_order_fulfillments",
        json={
            "sales_order_id": so.json()["id"],
            "status": "DELIVERED",
            "sales_order_fulfillment_rows": [{"sales_order_row_id": row_id, "quantity": 2}],
        },
    )
    assert f.status_code == 200, f.text
    order = client.get(f"/v1/sales_orders/{so.json()['id']}").json()
    assert order["status"] == "DELIVERED"
    assert order["sales_order_rows"][0]["missing_serial_numbers"] == 0
    stock = client.get("/v1/serial_numbers_stock").json()["data"]
    assert {s["serial_number"]: s["in_stock"] for s in stock} == {"BK-1": False, "BK-2": False}
    from tracelot.db.engine import transaction

    with transaction(sessions) as s:
        check_ledger(s)


def test_unlinking_releases_the_row(client):
    loc = _location(client)
    bike = _item(client, "Bike", "serial")
    cust = client.post("/v1/customers", json={"name": "Ada"}).json()["id"]
    so = client.post(
        "/v1/sales_orders",
        json={
            "customer_id": cust,
            "location_id": loc,
            "sales_order_rows": [{"variant_id": bike, "quantity": 1}],
        },
    ).json()
    row_id = so["sales_order_rows"][0]["id"]
    mo = client.post(
        "/v1/manufacturing_order_make_to_order", json={"sales_order_row_id": row_id}
    ).json()
    r = client.post("/v1/manufacturing_order_unlink", json={"sales_order_row_id": row_id})
    assert r.status_code == 204, r.text
    assert (
        client.get(f"/v1/manufacturing_orders/{mo['id']}").json()["is_linked_to_sales_order"]
        is False
    )
    assert (
        "linked_manufacturing_order_id" not in client.get(f"/v1/sales_order_rows/{row_id}").json()
    )


def test_receiving_and_reverting_a_purchase_order_over_http(client):
    loc = _location(client)
    resin = _item(client, "Resin", "batch", kind="materials")
    sup = client.post("/v1/suppliers", json={"name": "Acme"}).json()["id"]
    po = client.post(
        "/v1/purchase_orders",
        json={
            "supplier_id": sup,
            "location_id": loc,
            "purchase_order_rows": [{"variant_id": resin, "quantity": 8, "price_per_unit": 3}],
        },
    )
    assert po.status_code == 200, po.text
    po = po.json()
    assert po["entity_type"] == "regular" and po["status"] == "NOT_RECEIVED"
    row_id = po["purchase_order_rows"][0]["id"]
    r = client.post(
        "/v1/purchase_order_receive",
        json=[
            {
                "purchase_order_row_id": row_id,
                "quantity": 8,
                "batch_transactions": [
                    {"batch_number": "RZ-1", "expiration_date": "2030-01-01", "quantity": 8}
                ],
            }
        ],
    )
    assert r.status_code == 204, r.text
    got = client.get(f"/v1/purchase_orders/{po['id']}").json()
    assert got["status"] == "RECEIVED"
    assert got["purchase_order_rows"][0]["batch_transactions"][0]["quantity"] == 8
    bs = client.get("/v1/batch_stocks", params={"variant_id": resin}).json()["data"]
    assert [(b["batch_number"], b["quantity_in_stock"]) for b in bs] == [("RZ-1", "8")]
    moves = client.get(
        "/v1/inventory_movements", params={"resource_type": "PurchaseOrderRow"}
    ).json()["data"]
    assert moves and moves[0]["resource_id"] == row_id
    (receipt,) = client.get(
        "/v1/purchase_order_receipts", params={"purchase_order_id": po["id"]}
    ).json()["data"]
    r = client.delete(f"/v1/purchase_order_receipts/{receipt['id']}")
    assert r.status_code == 204, r.text
    assert client.get(f"/v1/purchase_orders/{po['id']}").json()["status"] == "NOT_RECEIVED"
    bad = client.get("/v1/purchase_orders", params={"colour": "red"})
    assert bad.status_code == 422 and bad.json()["code"] == "UNSUPPORTED_FILTER"


def test_a_production_with_too_few_serials_is_refused_over_http(client):
    loc = _location(client)
    bike = _item(client, "Bike", "serial")
    mo = client.post(
        "/v1/manufacturing_orders",
        json={"variant_id": bike, "location_id": loc, "planned_quantity": 3},
    ).json()
    r = client.post(
        "/v1/manufacturing_order_productions",
        json={
            "manufacturing_order_id": mo["id"],
            "completed_quantity": 2,
            "new_serial_numbers": ["X-1"],
        },
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "QUANTITY_MISMATCH"
    assert body["details"][0]["path"] == "serial_numbers"
    assert client.get("/v1/serial_numbers_stock").json()["data"] == []


def test_reverting_a_make_to_order_production_removes_the_assignment(client, sessions):
    loc = _location(client)
    bike = _item(client, "Bike", "serial")
    cust = client.post("/v1/customers", json={"name": "Ada"}).json()["id"]
    so = client.post(
        "/v1/sales_orders",
        json={
            "customer_id": cust,
            "location_id": loc,
            "sales_order_rows": [{"variant_id": bike, "quantity": 1}],
        },
    ).json()
    row_id = so["sales_order_rows"][0]["id"]
    mo = client.post(
        "/v1/manufacturing_order_make_to_order", json={"sales_order_row_id": row_id}
    ).json()
    prod = client.post(
        "/v1/manufacturing_order_productions",
        json={"manufacturing_order_id": mo["id"], "completed_quantity": 1},
    ).json()
    assert len(client.get(f"/v1/sales_order_rows/{row_id}").json()["serial_numbers"]) == 1
    r = client.delete(f"/v1/manufacturing_order_productions/{prod['id']}")
    assert r.status_code == 204, r.text
    assert client.get(f"/v1/sales_order_rows/{row_id}").json().get("serial_numbers", []) == []
    assert client.get(f"/v1/manufacturing_orders/{mo['id']}").json()["status"] == "NOT_STARTED"
    assert [s["in_stock"] for s in client.get("/v1/serial_numbers_stock").json()["data"]] == [False]
    from tracelot.db.engine import transaction

    with transaction(sessions) as s:
        check_ledger(s)


def test_a_linked_mo_follows_its_sales_rows_quantity_until_it_starts(client):
    loc = _location(client)
    lamp = _item(client, "Lamp", "serial")
    cust = client.post("/v1/customers", json={"name": "Ada"}).json()["id"]
    so = client.post(
        "/v1/sales_orders",
        json={
            "customer_id": cust,
            "location_id": loc,
            "sales_order_rows": [{"variant_id": lamp, "quantity": 2}],
        },
    ).json()
    row_id = so["sales_order_rows"][0]["id"]
    mo = client.post(
        "/v1/manufacturing_order_make_to_order", json={"sales_order_row_id": row_id}
    ).json()
    r = client.patch(f"/v1/sales_order_rows/{row_id}", json={"quantity": 5})
    assert r.status_code == 200, r.text
    assert client.get(f"/v1/manufacturing_orders/{mo['id']}").json()["planned_quantity"] == 5


def test_make_to_order_with_subassemblies_plans_the_short_ingredients_down_the_tree(client):
    loc = _location(client)
    bike = _item(client, "Bike2", "serial")
    wheel = _item(client, "Wheel", "none", is_producible=True)
    spoke = _item(client, "Spoke", "none", kind="materials")
    for product, ingredient, qty in ((bike, wheel, 2), (wheel, spoke, 32)):
        r = client.post(
            "/v1/recipe_rows",
            json={
                "product_variant_id": product,
                "ingredient_variant_id": ingredient,
                "quantity": qty,
            },
        )
        assert r.status_code == 200, r.text
    client.post(
        "/v1/stock_adjustments",
        json={"location_id": loc, "stock_adjustment_rows": [{"variant_id": wheel, "quantity": 1}]},
    )
    cust = client.post("/v1/customers", json={"name": "Ada"}).json()["id"]
    so = client.post(
        "/v1/sales_orders",
        json={
            "customer_id": cust,
            "location_id": loc,
            "sales_order_rows": [{"variant_id": bike, "quantity": 3}],
        },
    ).json()
    mo = client.post(
        "/v1/manufacturing_order_make_to_order",
        json={"sales_order_row_id": so["sales_order_rows"][0]["id"], "create_subassemblies": True},
    )
    assert mo.status_code == 200, mo.text
    orders = client.get("/v1/manufacturing_orders").json()["data"]
    subs = [o for o in orders if o.get("parent_manufacturing_order_id") == mo.json()["id"]]
    assert [(o["variant_id"], o["planned_quantity"]) for o in subs] == [(wheel, 5)]  # 6 - 1
    assert not any(o.get("parent_manufacturing_order_id") == subs[0]["id"] for o in orders)


def _blocked_mo(client):  # type: ignore[no-untyped-def]
    """An MO of 2 lamps needing 3 kg of resin each, with no resin at its location."""
    loc = _location(client)
    lamp = _item(client, "Lamp", "none")
    resin = _item(client, "Resin", "batch", kind="materials")
    r = client.post(
        "/v1/recipe_rows",
        json={"product_variant_id": lamp, "ingredient_variant_id": resin, "quantity": 3},
    )
    assert r.status_code == 200, r.text
    mo = client.post(
        "/v1/manufacturing_orders",
        json={"variant_id": lamp, "location_id": loc, "planned_quantity": 2},
    ).json()
    assert mo["status"] == "BLOCKED"
    return loc, resin, mo["id"]


def test_a_blocked_mo_reads_not_started_once_its_material_is_received(client):
    loc, resin, mo = _blocked_mo(client)
    sup = client.post("/v1/suppliers", json={"name": "Acme"}).json()["id"]
    po = client.post(
        "/v1/purchase_orders",
        json={
            "supplier_id": sup,
            "location_id": loc,
            "purchase_order_rows": [{"variant_id": resin, "quantity": 6, "price_per_unit": 1}],
        },
    ).json()
    row_id = po["purchase_order_rows"][0]["id"]
    r = client.post(
        "/v1/purchase_order_receive",
        json={
            "purchase_order_row_id": row_id,
            "quantity": 6,
            "batch_transactions": [{"batch_number": "RZ-1", "quantity": 6}],
        },
    )
    assert r.status_code == 204, r.text
    assert client.get(f"/v1/manufacturing_orders/{mo}").json()["status"] == "NOT_STARTED"
    listed = client.get("/v1/manufacturing_orders", params={"status": "NOT_STARTED"}).json()
    assert [m["id"] for m in listed["data"]] == [mo]
    assert client.get("/v1/manufacturing_orders", params={"status": "BLOCKED"}).json() == {
        "data": []
    }
    (receipt,) = client.get(
        "/v1/purchase_order_receipts", params={"purchase_order_id": po["id"]}
    ).json()["data"]
    assert client.delete(f"/v1/purchase_order_receipts/{receipt['id']}").status_code == 204
    assert client.get(f"/v1/manufacturing_orders/{mo}").json()["status"] == "BLOCKED"


def test_a_blocked_mo_reads_not_started_whatever_brought_the_material_in(client):
    """Status is computed when read: stock from an adjustment unblocks the MO too."""
    loc, resin, mo = _blocked_mo(client)
    r = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": loc,
            "stock_adjustment_rows": [
                {
                    "variant_id": resin,
                    "quantity": 6,
                    "batch_transactions": [{"batch_number": "RZ-1", "quantity": 6}],
                }
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/v1/manufacturing_orders/{mo}").json()["status"] == "NOT_STARTED"
    (listed,) = client.get("/v1/manufacturing_orders", params={"status": "NOT_STARTED"}).json()[
        "data"
    ]
    assert listed["id"] == mo and listed["status"] == "NOT_STARTED"


def test_a_partly_received_po_is_partially_received_until_every_row_is_in(client):
    loc = _location(client)
    bolt = _item(client, "Bolt", "none", kind="materials")
    nut = _item(client, "Nut", "none", kind="materials")
    sup = client.post("/v1/suppliers", json={"name": "Acme"}).json()["id"]
    po = client.post(
        "/v1/purchase_orders",
        json={
            "supplier_id": sup,
            "location_id": loc,
            "purchase_order_rows": [
                {"variant_id": bolt, "quantity": 10, "price_per_unit": 1},
                {"variant_id": nut, "quantity": 5, "price_per_unit": 1},
            ],
        },
    ).json()
    bolts, nuts = (r["id"] for r in po["purchase_order_rows"])

    def receive(row, qty):  # type: ignore[no-untyped-def]
        r = client.post(
            "/v1/purchase_order_receive", json={"purchase_order_row_id": row, "quantity": qty}
        )
        assert r.status_code == 204, r.text
        return client.get(f"/v1/purchase_orders/{po['id']}").json()["status"]

    assert receive(bolts, 4) == "PARTIALLY_RECEIVED"
    assert receive(bolts, 6) == "PARTIALLY_RECEIVED"  # the nuts are still out
    assert receive(nuts, 5) == "RECEIVED"
    over = client.post(
        "/v1/purchase_order_receive", json={"purchase_order_row_id": nuts, "quantity": 1}
    )
    assert over.status_code == 422 and over.json()["code"] == "QUANTITY_EXCEEDED"


def test_an_mo_set_in_progress_stays_so_and_a_partial_production_makes_it_partially_completed(
    client,
):
    loc, resin, mo = _blocked_mo(client)  # 2 lamps, 3 kg of resin each, no resin
    r = client.patch(f"/v1/manufacturing_orders/{mo}", json={"status": "IN_PROGRESS"})
    assert r.status_code == 200 and r.json()["status"] == "IN_PROGRESS"
    assert client.get(f"/v1/manufacturing_orders/{mo}").json()["status"] == "IN_PROGRESS"
    client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": loc,
            "stock_adjustment_rows": [
                {
                    "variant_id": resin,
                    "quantity": 6,
                    "batch_transactions": [{"batch_number": "RZ-1", "quantity": 6}],
                }
            ],
        },
    )
    assert client.get(f"/v1/manufacturing_orders/{mo}").json()["status"] == "IN_PROGRESS"
    r = client.post(
        "/v1/manufacturing_order_productions",
        json={"manufacturing_order_id": mo, "completed_quantity": 1},
    )
    assert r.status_code == 200, r.text
    got = client.get(f"/v1/manufacturing_orders/{mo}").json()
    assert (got["status"], got["completed_quantity"], got["remaining_quantity"]) == (
        "PARTIALLY_COMPLETED",
        1,
        1,
    )
    bad = client.patch(f"/v1/manufacturing_orders/{mo}", json={"status": "NOT_STARTED"})
    assert bad.status_code == 422 and bad.json()["details"][0]["path"] == "status"
    assert client.get(f"/v1/manufacturing_orders/{mo}").json()["status"] == "PARTIALLY_COMPLETED"


def _linked_lamp_mo(client):  # type: ignore[no-untyped-def]
    loc = _location(client)
    lamp = _item(client, "Lamp", "none")
    cust = client.post("/v1/customers", json={"name": "Ada"}).json()["id"]
    so = client.post(
        "/v1/sales_orders",
        json={
            "customer_id": cust,
            "location_id": loc,
            "sales_order_rows": [{"variant_id": lamp, "quantity": 4}],
        },
    ).json()
    row_id = so["sales_order_rows"][0]["id"]
    mo = client.post(
        "/v1/manufacturing_order_make_to_order", json={"sales_order_row_id": row_id}
    ).json()
    return row_id, mo["id"]


def test_a_linked_mo_stops_following_its_sales_rows_quantity_once_produced_from(client):
    row_id, mo = _linked_lamp_mo(client)
    r = client.post(
        "/v1/manufacturing_order_productions",
        json={"manufacturing_order_id": mo, "completed_quantity": 1},
    )
    assert r.status_code == 200, r.text
    r = client.patch(f"/v1/sales_order_rows/{row_id}", json={"quantity": 6})
    assert r.status_code == 200, r.text
    got = client.get(f"/v1/manufacturing_orders/{mo}").json()
    assert (got["planned_quantity"], got["status"]) == (4, "PARTIALLY_COMPLETED")


def test_a_linked_mo_set_in_progress_stops_following_its_sales_rows_quantity(client):
    row_id, mo = _linked_lamp_mo(client)
    r = client.patch(f"/v1/manufacturing_orders/{mo}", json={"status": "IN_PROGRESS"})
    assert r.status_code == 200, r.text
    r = client.patch(f"/v1/sales_order_rows/{row_id}", json={"quantity": 6})
    assert r.status_code == 200, r.text
    assert client.get(f"/v1/manufacturing_orders/{mo}").json()["planned_quantity"] == 4

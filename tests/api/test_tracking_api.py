"""SPEC §1 through the HTTP API, with Katana's shapes and error bodies."""

from __future__ import annotations

import csv
import io


def _setup(client, tracking_flags, rows_for):
    loc = client.post("/v1/locations", json={"name": "Main"}).json()["id"]
    item = client.post(
        "/v1/products",
        json={"name": "Widget", **tracking_flags, "variants": [{"sku": "W-1"}, {"sku": "W-2"}]},
    )
    assert item.status_code == 200, item.text
    body = item.json()
    rows = [rows_for(v["id"]) for v in body["variants"]]
    r = client.post(
        "/v1/stock_adjustments", json={"location_id": loc, "stock_adjustment_rows": rows}
    )
    assert r.status_code == 200, r.text
    return loc, body


def test_none_to_batch_lists_existing_stock_as_unbatched(client):
    loc, item = _setup(client, {}, lambda v: {"variant_id": v, "quantity": 4})
    r = client.patch(f"/v1/products/{item['id']}", json={"batch_tracked": True})
    assert r.status_code == 200 and r.json()["batch_tracked"] is True
    stocks = client.get("/v1/batch_stocks").json()["data"]
    assert sorted(
        (s["variant_id"], s["batch_number"], s["quantity_in_stock"]) for s in stocks
    ) == sorted((v["id"], "unbatched", "4") for v in item["variants"])
    assert all("batch_id" not in s and s["location_id"] == loc for s in stocks)
    moves = client.get("/v1/inventory_movements").json()["data"]
    assert sum(1 for m in moves if m["reason"] == "tracking_change") == 4


def test_none_to_serial_reports_the_gap_per_variant_and_location(client):
    loc, item = _setup(client, {}, lambda v: {"variant_id": v, "quantity": 2})
    assert (
        client.patch(f"/v1/products/{item['id']}", json={"serial_tracked": True}).status_code == 200
    )
    gaps = client.get("/v1/serial_gaps", params={"item_id": item["id"]}).json()["data"]
    assert sorted(
        (g["variant_id"], g["location_id"], g["missing_serial_numbers"]) for g in gaps
    ) == sorted((v["id"], loc, 2) for v in item["variants"])


def test_batch_to_serial_is_refused_with_katanas_error_body(client):
    _, item = _setup(
        client,
        {"batch_tracked": True},
        lambda v: {
            "variant_id": v,
            "quantity": 1,
            "batch_transactions": [{"batch_number": f"L{v}", "quantity": 1}],
        },
    )
    r = client.patch(f"/v1/products/{item['id']}", json={"serial_tracked": True})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "TRACKING_SWITCH_REFUSED"
    assert body["name"] == "UnprocessableEntityError" and body["statusCode"] == 422
    assert {"path", "code", "message"} <= set(body["details"][0])
    assert "set its tracking to none first" in body["message"]
    assert "create a new item" in body["message"]
    assert client.get(f"/v1/products/{item['id']}").json()["batch_tracked"] is True


def test_both_flags_at_once_is_a_tracking_conflict(client):
    r = client.post(
        "/v1/products",
        json={
            "name": "X",
            "batch_tracked": True,
            "serial_tracked": True,
            "variants": [{"sku": "X"}],
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "TRACKING_CONFLICT"


def test_removing_tracking_needs_confirmation_then_archives_before_removing(client):
    _, item = _setup(
        client,
        {"serial_tracked": True},
        lambda v: {"variant_id": v, "quantity": 2, "serial_numbers": [f"S{v}-1", f"S{v}-2"]},
    )
    r = client.patch(f"/v1/products/{item['id']}", json={"serial_tracked": False})
    assert r.status_code == 422 and r.json()["code"] == "CONFIRMATION_REQUIRED"
    assert client.get("/v1/tracking_archives").json()["data"] == []
    r = client.patch(
        f"/v1/products/{item['id']}",
        json={"serial_tracked": False, "confirm_remove_tracking": True},
    )
    assert r.status_code == 200 and r.json()["serial_tracked"] is False
    (archive,) = client.get("/v1/tracking_archives").json()["data"]
    assert archive["item_id"] == item["id"] and archive["tracking"] == "serial"
    download = client.get(archive["download_url"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    serial_lines = [
        r for r in csv.DictReader(io.StringIO(download.text)) if r["record"] == "serial"
    ]
    assert len(serial_lines) == 4
    assert client.get("/v1/serial_numbers_stock").json()["data"] == []


def test_changing_one_items_tracking_never_touches_another(client):
    _, item = _setup(client, {}, lambda v: {"variant_id": v, "quantity": 1})
    other = client.post("/v1/materials", json={"name": "Other", "variants": [{"sku": "O"}]})
    client.patch(f"/v1/products/{item['id']}", json={"batch_tracked": True})
    assert client.get(f"/v1/materials/{other.json()['id']}").json()["batch_tracked"] is False


def _post(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_removing_serial_tracking_of_a_product_made_from_a_batch_archives_the_genealogy(client):
    loc = _post(client, "/v1/locations", {"name": "Main"})["id"]
    resin = _post(
        client,
        "/v1/materials",
        {"name": "Resin", "batch_tracked": True, "variants": [{"sku": "RS"}]},
    )["variants"][0]["id"]
    gadget = _post(
        client,
        "/v1/products",
        {"name": "Gadget", "serial_tracked": True, "variants": [{"sku": "GD"}]},
    )
    gv = gadget["variants"][0]["id"]
    _post(
        client,
        "/v1/recipe_rows",
        {"product_variant_id": gv, "ingredient_variant_id": resin, "quantity": 3},
    )
    _post(
        client,
        "/v1/stock_adjustments",
        {
            "location_id": loc,
            "stock_adjustment_rows": [
                {
                    "variant_id": resin,
                    "quantity": 9,
                    "batch_transactions": [{"batch_number": "RB-1", "quantity": 9}],
                }
            ],
        },
    )
    mo = _post(
        client,
        "/v1/manufacturing_orders",
        {"variant_id": gv, "location_id": loc, "planned_quantity": 2},
    )
    _post(
        client,
        "/v1/manufacturing_order_productions",
        {
            "manufacturing_order_id": mo["id"],
            "completed_quantity": 2,
            "new_serial_numbers": ["G-1", "G-2"],
        },
    )
    r = client.patch(
        f"/v1/products/{gadget['id']}",
        json={"serial_tracked": False, "confirm_remove_tracking": True},
    )
    assert r.status_code == 200, r.text
    assert r.json()["serial_tracked"] is False
    (archive,) = client.get("/v1/tracking_archives").json()["data"]
    lines = list(csv.DictReader(io.StringIO(client.get(archive["download_url"]).text)))
    links = sorted(
        (g["serial_number"], g["role"], g["linked_sku"], g["linked_batch_number"], g["quantity"])
        for g in lines
        if g["record"] == "genealogy"
    )
    assert links == [("G-1", "output", "RS", "RB-1", "3"), ("G-2", "output", "RS", "RB-1", "3")]
    assert [g["manufacturing_order"] for g in lines if g["record"] == "production"] == [
        mo["order_no"]
    ]
    assert client.get("/v1/serial_numbers_stock").json()["data"] == []
    stocks = client.get("/v1/batch_stocks").json()["data"]
    assert [(s["batch_number"], s["quantity_in_stock"]) for s in stocks] == [("RB-1", "3")]

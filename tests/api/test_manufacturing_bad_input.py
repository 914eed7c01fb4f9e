"""Bad production input over HTTP: a 422 with a stable code naming the field and what to do,
and nothing changed (issue 4, acceptance 5), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from support.world import ledger_snapshot
from tracelot.db.engine import transaction
from tracelot.db.models import Genealogy, Production


def _variant(client, kind, name, tracking):  # type: ignore[no-untyped-def]
    r = client.post(
        f"/v1/{kind}",
        json={
            "name": name,
            "variants": [{"sku": name.upper()}],
            "batch_tracked": tracking == "batch",
            "serial_tracked": tracking == "serial",
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["variants"][0]["id"]


@pytest.fixture
def plant(client):  # type: ignore[no-untyped-def]
    """An MO of 3 widgets, each 2 kg of resin (EARLY 4 kg, OLD 4 kg expired) and 1 board."""
    loc = client.post("/v1/locations", json={"name": "Main", "is_primary": True}).json()["id"]
    widget = _variant(client, "products", "Widget", "serial")
    resin = _variant(client, "materials", "Resin", "batch")
    board = _variant(client, "materials", "Board", "serial")
    for ingredient, qty in ((resin, 2), (board, 1)):
        r = client.post(
            "/v1/recipe_rows",
            json={
                "product_variant_id": widget,
                "ingredient_variant_id": ingredient,
                "quantity": qty,
            },
        )
        assert r.status_code == 200, r.text
    soon = (date.today() + timedelta(days=10)).isoformat()
    r = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": loc,
            "stock_adjustment_rows": [
                {
                    "variant_id": resin,
                    "quantity": 8,
                    "batch_transactions": [
                        {"batch_number": "EARLY", "expiration_date": soon, "quantity": 4},
                        {"batch_number": "OLD", "expiration_date": soon, "quantity": 4},
                    ],
                },
                {"variant_id": board, "quantity": 3, "serial_numbers": ["B-1..B-3"]},
                {"variant_id": widget, "quantity": 1, "serial_numbers": ["W-1"]},
            ],
        },
    )
    assert r.status_code == 200, r.text
    batches = {
        b["batch_number"]: b["batch_id"]
        for b in client.get("/v1/batch_stocks", params={"variant_id": resin}).json()["data"]
    }
    past = (date.today() - timedelta(days=1)).isoformat()
    r = client.patch(f"/v1/batch_stocks/{batches['OLD']}", json={"expiration_date": past})
    assert r.status_code == 200, r.text
    boards = {
        s["serial_number"]: s["id"]
        for s in client.get("/v1/serial_numbers_stock", params={"variant_id": board}).json()["data"]
    }
    mo = client.post(
        "/v1/manufacturing_orders",
        json={"variant_id": widget, "location_id": loc, "planned_quantity": 3},
    ).json()
    return {"loc": loc, "mo": mo["id"], "board": board, **batches, **boards}


def _refused(client, sessions, body, code, path):  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        before = ledger_snapshot(s), s.scalar(select(func.count()).select_from(Genealogy))
    mo_before = client.get(f"/v1/manufacturing_orders/{body['manufacturing_order_id']}").json()
    r = client.post("/v1/manufacturing_order_productions", json=body)
    assert r.status_code == 422, r.text
    got = r.json()
    assert got["code"] == code and got["name"] == "UnprocessableEntityError", got
    assert [d["code"] for d in got["details"]] == [code] * len(got["details"])
    assert got["details"][0]["path"] == path
    with transaction(sessions) as s:
        assert (ledger_snapshot(s), s.scalar(select(func.count()).select_from(Genealogy))) == before
        assert s.scalar(select(func.count()).select_from(Production)) == 0
    mo_after = client.get(f"/v1/manufacturing_orders/{body['manufacturing_order_id']}").json()
    assert mo_after == mo_before
    return got["message"]


def test_consuming_more_than_a_batch_holds_is_refused_over_http(client, sessions, plant):
    message = _refused(
        client,
        sessions,
        {
            "manufacturing_order_id": plant["mo"],
            "completed_quantity": 3,
            "traceability": [
                {"batch_id": plant["EARLY"], "quantity": 6},
                *({"serial_number_id": plant[f"B-{i}"]} for i in (1, 2, 3)),
            ],
        },
        "NOT_IN_STOCK",
        "ingredients[0].batch_transactions",
    )
    assert "'EARLY' holds 4" in message and "Pick another batch" in message


def test_an_expired_batch_without_the_override_is_refused_over_http(client, sessions, plant):
    message = _refused(
        client,
        sessions,
        {
            "manufacturing_order_id": plant["mo"],
            "completed_quantity": 1,
            "traceability": [
                {"batch_id": plant["OLD"], "quantity": 2},
                {"serial_number_id": plant["B-1"]},
            ],
        },
        "EXPIRED_BATCH",
        "ingredients[0].batch_transactions",
    )
    assert "'OLD' expired" in message and "allow_expired" in message


def test_a_serial_ingredient_not_in_stock_is_refused_over_http(client, sessions, plant):
    r = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": plant["loc"],
            "stock_adjustment_rows": [
                {
                    "variant_id": plant["board"],
                    "quantity": -1,
                    "traceability": [{"serial_number_id": plant["B-2"], "quantity": 1}],
                }
            ],
        },
    )
    assert r.status_code == 200, r.text
    message = _refused(
        client,
        sessions,
        {
            "manufacturing_order_id": plant["mo"],
            "completed_quantity": 1,
            "traceability": [{"serial_number_id": plant["B-2"]}],
        },
        "NOT_IN_STOCK",
        "ingredients[1].serial_numbers",
    )
    assert "'B-2' is removed" in message and "pick one in stock at Main" in message


def test_an_output_serial_number_that_exists_is_refused_over_http(client, sessions, plant):
    message = _refused(
        client,
        sessions,
        {
            "manufacturing_order_id": plant["mo"],
            "completed_quantity": 1,
            "new_serial_numbers": ["W-1"],
            "traceability": [{"serial_number_id": plant["B-1"]}],
        },
        "DUPLICATE",
        "new_serial_numbers",
    )
    assert "'W-1' already exists" in message

"""Stock transfers move stock, batches and serials between locations (SPEC §2)."""

from __future__ import annotations

import pytest


@pytest.fixture
def setup(client):
    a = client.post("/v1/locations", json={"name": "A"}).json()["id"]
    b = client.post("/v1/locations", json={"name": "B"}).json()["id"]
    s = client.post(
        "/v1/products", json={"name": "S", "serial_tracked": True, "variants": [{"sku": "S"}]}
    ).json()["variants"][0]["id"]
    bt = client.post(
        "/v1/products", json={"name": "B", "batch_tracked": True, "variants": [{"sku": "B"}]}
    ).json()["variants"][0]["id"]
    r = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": a,
            "stock_adjustment_rows": [
                {"variant_id": s, "quantity": 3, "serial_numbers": ["X-1..X-3"]},
                {
                    "variant_id": bt,
                    "quantity": 8,
                    "batch_transactions": [{"batch_number": "L1", "quantity": 8}],
                },
            ],
        },
    )
    assert r.status_code == 200
    batch = client.get("/v1/batch_stocks").json()["data"][0]["batch_id"]
    serials = {
        x["serial_number"]: x["id"] for x in client.get("/v1/serial_numbers_stock").json()["data"]
    }
    return {"a": a, "b": b, "s": s, "bt": bt, "batch": batch, "serials": serials}


def _where(client, number):
    (s,) = [
        x
        for x in client.get("/v1/serial_numbers_stock").json()["data"]
        if x["serial_number"] == number
    ]
    return s.get("location_id"), s["status"]


def test_a_transfer_moves_serials_and_batches_and_steps_back(client, setup):
    r = client.post(
        "/v1/stock_transfers",
        json={
            "source_location_id": setup["a"],
            "target_location_id": setup["b"],
            "stock_transfer_rows": [
                {
                    "variant_id": setup["s"],
                    "quantity": "2",
                    "traceability": [
                        {"serial_number_id": setup["serials"]["X-1"]},
                        {"serial_number_id": setup["serials"]["X-2"]},
                    ],
                },
                {
                    "variant_id": setup["bt"],
                    "quantity": "5",
                    "batch_transactions": [{"batch_id": setup["batch"], "quantity": 5}],
                },
            ],
        },
    )
    assert r.status_code == 200, r.text
    tr = r.json()
    assert tr["status"] == "draft" and tr["stock_transfer_number"].startswith("ST-")
    assert _where(client, "X-1") == (setup["a"], "reserved")
    r = client.patch(f"/v1/stock_transfers/{tr['id']}/status", json={"status": "inTransit"})
    assert r.status_code == 200 and r.json()["status"] == "inTransit"
    assert _where(client, "X-1") == (None, "in_transit")
    client.patch(f"/v1/stock_transfers/{tr['id']}/status", json={"status": "received"})
    assert _where(client, "X-1") == (setup["b"], "in_stock")
    stocks = {
        (s["location_id"], s["quantity_in_stock"])
        for s in client.get("/v1/batch_stocks").json()["data"]
    }
    assert stocks == {(setup["a"], "3"), (setup["b"], "5")}
    r = client.patch(f"/v1/stock_transfers/{tr['id']}/status", json={"status": "draft"})
    assert r.status_code == 200, r.text
    assert _where(client, "X-2") == (setup["a"], "reserved")
    assert {
        (s["location_id"], s["quantity_in_stock"])
        for s in client.get("/v1/batch_stocks").json()["data"]
    } == {(setup["a"], "8")}
    assert client.delete(f"/v1/stock_transfers/{tr['id']}").status_code == 204
    assert _where(client, "X-2") == (setup["a"], "in_stock")


def test_a_transfer_of_serials_not_at_the_source_is_refused(client, setup):
    client.post(
        "/v1/stock_transfers",
        json={
            "source_location_id": setup["a"],
            "target_location_id": setup["b"],
            "stock_transfer_rows": [
                {"variant_id": setup["s"], "quantity": "1", "serial_numbers": ["X-3"]}
            ],
        },
    )
    r = client.post(
        "/v1/stock_transfers",
        json={
            "source_location_id": setup["a"],
            "target_location_id": setup["b"],
            "stock_transfer_rows": [
                {"variant_id": setup["s"], "quantity": "1", "serial_numbers": ["X-3"]}
            ],
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "NOT_IN_STOCK"
    assert "X-3" in r.json()["message"]


def test_moving_more_of_a_batch_than_the_source_holds_is_refused(client, setup):
    r = client.post(
        "/v1/stock_transfers",
        json={
            "source_location_id": setup["a"],
            "target_location_id": setup["b"],
            "stock_transfer_rows": [
                {
                    "variant_id": setup["bt"],
                    "quantity": "9",
                    "batch_transactions": [{"batch_id": setup["batch"], "quantity": 9}],
                }
            ],
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "NOT_IN_STOCK"
    assert client.get("/v1/stock_transfers").json()["data"] == []


def test_a_received_transfer_cannot_be_deleted(client, setup):
    tr = client.post(
        "/v1/stock_transfers",
        json={
            "source_location_id": setup["a"],
            "target_location_id": setup["b"],
            "stock_transfer_rows": [
                {
                    "variant_id": setup["bt"],
                    "quantity": "1",
                    "batch_transactions": [{"batch_id": setup["batch"], "quantity": 1}],
                }
            ],
        },
    ).json()
    client.patch(f"/v1/stock_transfers/{tr['id']}/status", json={"status": "received"})
    r = client.delete(f"/v1/stock_transfers/{tr['id']}")
    assert r.status_code == 422 and r.json()["code"] == "IN_USE"


def test_lists_carry_the_pagination_header_and_refuse_unknown_filters(client, setup):
    r = client.get("/v1/products", params={"limit": 1, "page": 2})
    import json

    header = json.loads(r.headers["X-Pagination"])
    assert header["total_records"] == "2" and header["total_pages"] == "2"
    assert header["last_page"] == "true" and header["first_page"] == "false"
    assert len(r.json()["data"]) == 1
    assert client.get("/v1/products", params={"page": 9}).json() == {"data": []}
    r = client.get("/v1/stock_transfers", params={"colour": "red"})
    assert r.status_code == 422 and r.json()["code"] == "UNSUPPORTED_FILTER"


def test_requests_without_a_valid_token_are_refused(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as anonymous:
        r = anonymous.get("/v1/products")
        assert r.status_code == 401 and r.json()["name"] == "UnauthorizedError"
        r = anonymous.get("/v1/products", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert anonymous.get("/openapi.json").json()["info"]["title"] == "tracelot"


def test_a_change_is_committed_before_its_response_is_sent():
    """Over a real socket: a commit that fails must not have answered 200 already."""
    import httpx
    from sqlalchemy import event

    from support.live_server import live_server

    def fail(session):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database refused the commit")

    with live_server() as srv:
        auth = {"Authorization": f"Bearer {srv.token}"}
        sessions = srv.app.state.sessions  # type: ignore[attr-defined]
        event.listen(sessions, "before_commit", fail)
        try:
            r = httpx.post(f"{srv.base_url}/v1/locations", json={"name": "Never"}, headers=auth)
        finally:
            event.remove(sessions, "before_commit", fail)
        assert r.status_code == 500
        listed = httpx.get(f"{srv.base_url}/v1/locations", headers=auth).json()
        assert listed == {"data": []}

"""E-commerce order import over HTTP (issue 3, acceptance 2, 5 and 6)."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from test_sales_api import ok, receive_serials, refused, setup  # type: ignore[import-not-found]

from support.world import check_ledger, ledger_snapshot
from tracelot.db.engine import transaction
from tracelot.db.models import (
    Customer,
    OrderImport,
    SalesOrder,
    SalesOrderFulfillment,
    SalesOrderRow,
)

SHOPIFY = {
    "id": 5821394239703,
    "admin_graphql_api_id": "gid://shopify/Order/5821394239703",
    "name": "#1042",
    "order_number": 1042,
    "email": "ada@example.com",
    "created_at": "2026-03-02T10:15:00-05:00",
    "currency": "EUR",
    "financial_status": "paid",
    "fulfillment_status": "fulfilled",
    "total_price": "259.00",
    "customer": {
        "id": 7011,
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+44 20 7946 0958",
    },
    "billing_address": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address1": "1 Main St",
        "city": "London",
        "zip": "N1 9GU",
        "country": "United Kingdom",
        "country_code": "GB",
    },
    "shipping_address": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address1": "1 Main St",
        "city": "London",
        "zip": "N1 9GU",
        "country_code": "GB",
    },
    "line_items": [
        {
            "id": 13021,
            "variant_id": 4471,
            "title": "Grinder",
            "sku": "GR-1",
            "quantity": 2,
            "price": "129.50",
            "fulfillment_status": "fulfilled",
        }
    ],
}

WOO = {
    "id": 727,
    "parent_id": 0,
    "number": "727",
    "order_key": "wc_order_58d2d042d1d",
    "created_via": "checkout",
    "status": "processing",
    "currency": "USD",
    "date_created": "2026-03-04T12:00:00",
    "total": "29.35",
    "customer_id": 26,
    "billing": {
        "first_name": "John",
        "last_name": "Doe",
        "company": "",
        "address_1": "969 Market",
        "address_2": "",
        "city": "San Francisco",
        "state": "CA",
        "postcode": "94103",
        "country": "US",
        "email": "john.doe@example.com",
        "phone": "(555) 555-5555",
    },
    "shipping": {
        "first_name": "John",
        "last_name": "Doe",
        "address_1": "969 Market",
        "city": "San Francisco",
        "state": "CA",
        "postcode": "94103",
        "country": "US",
    },
    "payment_method": "bacs",
    "set_paid": True,
    "line_items": [
        {
            "id": 315,
            "name": "Grinder",
            "product_id": 93,
            "variation_id": 0,
            "quantity": 1,
            "sku": "GR-1",
            "price": 21.99,
            "total": "21.99",
        }
    ],
}

GENERIC = {
    "order_id": "B2B-2026-0001",
    "order_no": "PO 4471",
    "status": "open",
    "currency": "EUR",
    "customer": {"name": "Acme GmbH", "email": "orders@acme.example"},
    "shipping_address": {
        "company": "Acme GmbH",
        "line_1": "Hauptstr. 5",
        "city": "Berlin",
        "zip": "10115",
        "country": "DE",
    },
    "lines": [{"sku": "GR-1", "quantity": 3, "price_per_unit": "99.00"}],
}


def test_importing_the_same_shopify_order_twice_creates_one_order(client, sessions):
    loc, vid, _ = setup(client)
    receive_serials(client, loc, vid, "G-1..G-3", 3)
    first = ok(client.post("/v1/imports/orders/shopify", json=SHOPIFY))
    assert first["import"]["created"] is True
    assert first["status"] == "DELIVERED" and first["ecommerce_order_id"] == "5821394239703"
    assert first["missing_serial_numbers"] == 2 and first["tracing_status"] == "missing"
    again = ok(client.post("/v1/imports/orders/shopify", json=SHOPIFY))
    assert again["id"] == first["id"] and again["import"]["created"] is False
    assert len(ok(client.get("/v1/sales_orders"))["data"]) == 1
    with transaction(sessions) as s:
        check_ledger(s)


def test_a_store_order_is_never_imported_twice_even_after_the_local_order_is_deleted(client):
    setup(client)
    open_order = dict(SHOPIFY, fulfillment_status=None)
    first = ok(client.post("/v1/imports/orders/shopify", json=open_order))
    assert first["status"] == "NOT_SHIPPED"
    assert client.delete(f"/v1/sales_orders/{first['id']}").status_code == 204
    again = ok(client.post("/v1/imports/orders/shopify", json=open_order))
    assert again["id"] == first["id"] and again["import"]["created"] is False
    assert ok(client.get("/v1/sales_orders"))["data"] == []


def test_delivered_import_refuses_assignment_then_revert_assign_deliver_completes_it(
    client, sessions
):
    loc, vid, _ = setup(client)
    sn = receive_serials(client, loc, vid, "G-1..G-3", 3)
    order = ok(client.post("/v1/imports/orders/shopify", json=SHOPIFY))
    row = order["sales_order_rows"][0]["id"]
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": sn["G-1"], "quantity": 1}]},
        ),
        "ORDER_DELIVERED",
    )
    assert "revert" in body["message"]
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before
    done = ok(
        client.post(
            f"/v1/sales_orders/{order['id']}/revert_assign_deliver",
            json={"rows": [{"sales_order_row_id": row, "serial_numbers": [sn["G-1"], sn["G-2"]]}]},
        )
    )
    assert done["status"] == "DELIVERED"
    assert (done["missing_serial_numbers"], done["tracing_status"]) == (0, "complete")
    assert done["store_sync"] == "local_only" and "store" in done["store_sync_note"]
    stock = {
        s["serial_number"]: s["in_stock"]
        for s in ok(client.get("/v1/serial_numbers_stock", params={"limit": 250}))["data"]
    }
    assert stock == {"G-1": False, "G-2": False, "G-3": True}
    with transaction(sessions) as s:
        check_ledger(s)


def test_woocommerce_order_is_imported_open_and_completed_arrives_delivered(client):
    loc, vid, _ = setup(client)
    receive_serials(client, loc, vid, "G-1..G-2", 2)
    processing = ok(client.post("/v1/imports/orders/woocommerce", json=WOO))
    assert processing["status"] == "NOT_SHIPPED"
    assert processing["sales_order_rows"][0]["quantity"] == 1
    customer = ok(client.get(f"/v1/customers/{processing['customer_id']}"))
    assert customer["name"] == "John Doe"
    completed = dict(WOO, id=728, number="728", status="completed")
    done = ok(client.post("/v1/imports/orders/woocommerce", json=completed))
    assert done["status"] == "DELIVERED" and done["missing_serial_numbers"] == 1
    assert done["customer_id"] == processing["customer_id"]


def test_generic_order_is_imported_as_documented(client):
    setup(client)
    order = ok(client.post("/v1/imports/orders/generic", json=GENERIC))
    assert order["status"] == "NOT_SHIPPED" and order["ecommerce_order_id"] == "B2B-2026-0001"
    assert order["sales_order_rows"][0]["quantity"] == 3
    assert order["sales_order_rows"][0]["price_per_unit"] == "99"


def _bad_shopify(mutate):  # type: ignore[no-untyped-def]
    p = copy.deepcopy(SHOPIFY)
    mutate(p)
    return p


@pytest.mark.parametrize(
    ("payload", "code", "path"),
    [
        (
            _bad_shopify(lambda p: p["line_items"][0].update(sku="NOPE-9")),
            "MISSING",
            "line_items[0].sku",
        ),
        (
            _bad_shopify(lambda p: p["line_items"][0].update(quantity=0)),
            "VALIDATION_FAILED",
            "line_items[0].quantity",
        ),
        (
            _bad_shopify(lambda p: p["line_items"][0].update(quantity=-2)),
            "VALIDATION_FAILED",
            "line_items[0].quantity",
        ),
        (_bad_shopify(lambda p: p.pop("id")), "MISSING", "id"),
        ([SHOPIFY], "VALIDATION_FAILED", ""),
    ],
)
def test_bad_store_payloads_are_refused_and_change_nothing(client, sessions, payload, code, path):
    setup(client)
    with transaction(sessions) as s:
        before = ledger_snapshot(s), s.query(SalesOrder).count(), s.query(OrderImport).count()
    body = refused(client.post("/v1/imports/orders/shopify", json=payload), code)
    assert body["details"][0]["path"] == path and body["message"]
    with transaction(sessions) as s:
        assert (
            ledger_snapshot(s),
            s.query(SalesOrder).count(),
            s.query(OrderImport).count(),
        ) == before


def _everything(s) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    """The ledger plus what an import creates: orders, rows, import records, customers."""
    return (
        ledger_snapshot(s),
        s.query(SalesOrder).count(),
        s.query(SalesOrderRow).count(),
        s.query(OrderImport).count(),
        s.query(Customer).count(),
    )


def test_a_payload_that_is_not_json_is_refused_and_changes_nothing(client, sessions):
    loc, vid, cust = setup(client)
    receive_serials(client, loc, vid, "G-1", 1)
    with transaction(sessions) as s:
        before = _everything(s)
    r = client.post(
        "/v1/imports/orders/shopify",
        content=b"id=1&name=%231001",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and "not JSON" in r.json()["message"]
    with transaction(sessions) as s:
        assert _everything(s) == before


def test_a_failed_revert_assign_deliver_leaves_the_delivered_order_as_it_was(client, sessions):
    loc, vid, _ = setup(client)
    sn = receive_serials(client, loc, vid, "G-1..G-3", 3)
    order = ok(client.post("/v1/imports/orders/shopify", json=SHOPIFY))
    row = order["sales_order_rows"][0]["id"]
    with transaction(sessions) as s:
        before = (
            _everything(s),
            [(f.id, f.status, f.deleted_at) for f in s.query(SalesOrderFulfillment)],
        )
    body = refused(
        client.post(
            f"/v1/sales_orders/{order['id']}/revert_assign_deliver",
            json={"rows": [{"sales_order_row_id": row, "serial_numbers": [sn["G-1"], 999999]}]},
        ),
        "MISSING",
    )
    assert "999999" in body["message"]
    after = ok(client.get(f"/v1/sales_orders/{order['id']}"))
    assert after["status"] == "DELIVERED" and after["missing_serial_numbers"] == 2
    assert after.get("store_sync") == order.get("store_sync")  # the revert did not stick
    assert after["sales_order_rows"][0]["serial_numbers"] == []
    with transaction(sessions) as s:
        assert (
            _everything(s),
            [(f.id, f.status, f.deleted_at) for f in s.query(SalesOrderFulfillment)],
        ) == before
        check_ledger(s)


def _doc_examples() -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    """Each JSON example in docs/imports.md with its channel (the section it is in)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "imports.md").read_text()
    channel, found = None, []
    for part in re.split(r"^(## .*)$", text, flags=re.M):
        if part.startswith("## "):
            channel = part[3:].strip().lower()
            continue
        for block in re.findall(r"```json\n(.*?)```", part, flags=re.S):
            found.append((channel, json.loads(block)))
    return found


def test_every_example_in_the_import_doc_imports_as_documented(client):
    examples = _doc_examples()
    assert [c for c, _ in examples] == ["shopify", "woocommerce", "generic"]
    loc, vid, _ = setup(client)
    receive_serials(client, loc, vid, "G-1..G-5", 5)
    for channel, payload in examples:
        order = ok(client.post(f"/v1/imports/orders/{channel}", json=payload))
        assert order["import"]["created"] is True, channel
        lines = payload.get("line_items") or payload["lines"]
        assert [
            (r["quantity"], Decimal(r["price_per_unit"])) for r in order["sales_order_rows"]
        ] == [
            (ln["quantity"], Decimal(str(ln.get("price") or ln.get("price_per_unit"))))
            for ln in lines
        ], channel
        done = payload.get("fulfillment_status") == "fulfilled" or payload["status"] == "completed"
        assert order["status"] == ("DELIVERED" if done else "NOT_SHIPPED"), channel


def test_bad_serial_assignments_are_refused_and_change_nothing(client, sessions):
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "G-1..G-3", 3)
    other = ok(
        client.post(
            "/v1/products",
            json={"name": "Other", "serial_tracked": True, "variants": [{"sku": "OT-1"}]},
        )
    )
    ovid = other["variants"][0]["id"]
    osn = receive_serials(client, loc, ovid, "O-1", 1)
    so = ok(
        client.post(
            "/v1/sales_orders",
            json={"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": 1}]},
        )
    )
    row = so["sales_order_rows"][0]["id"]
    so2 = ok(
        client.post(
            "/v1/sales_orders",
            json={"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": 1}]},
        )
    )
    ok(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so2["id"],
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [
                    {
                        "sales_order_row_id": so2["sales_order_rows"][0]["id"],
                        "serial_numbers": [sn["G-3"]],
                    }
                ],
            },
        )
    )
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": osn["O-1"], "quantity": 1}]},
        ),
        "NOT_IN_STOCK",
    )
    body = refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": sn["G-3"], "quantity": 1}]},
        ),
        "NOT_IN_STOCK",
    )
    assert "G-3" in body["message"] and "delivered" in body["message"]
    with transaction(sessions) as s:
        orders = s.query(SalesOrder).count(), s.query(SalesOrderRow).count()
    for qty in (0, -1):
        body = refused(
            client.post(
                "/v1/sales_orders",
                json={
                    "customer_id": cust,
                    "sales_order_rows": [{"variant_id": vid, "quantity": qty}],
                },
            ),
            "VALIDATION_FAILED",
        )
        assert body["details"][0]["path"] == "sales_order_rows[0].quantity"
        with transaction(sessions) as s:  # no order (nor row) was created
            assert (s.query(SalesOrder).count(), s.query(SalesOrderRow).count()) == orders
    refused(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={
                "serial_number_transactions": [
                    {"serial_number_id": sn["G-1"], "quantity": 1},
                    {"serial_number_id": sn["G-2"], "quantity": 1},
                ]
            },
        ),
        "QUANTITY_EXCEEDED",
    )
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before

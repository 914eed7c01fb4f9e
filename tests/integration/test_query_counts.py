"""Query-count ceilings: bulk work stays set-based and list pages stay free of N+1 queries.

Statements are counted on the engine (``before_cursor_execute``), never timed.
A list endpoint must issue the same number of statements for a page of 2 as for
a page of 20: a loop that queries per listed object shows up as growth.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from support.statements import counting
from support.world import World, check_ledger


def top(statements: list[str]) -> list[tuple[str, int]]:
    return Counter(" ".join(s.split())[:90] for s in statements).most_common(3)


def test_a_20000_serial_adjustment_through_the_api_stays_under_100_statements(
    client, engine, sessions
):
    w = World(sessions).setup()
    _, (variant,) = w.item("Sensor", "serial")
    body = {
        "location_id": w.location_id,
        "stock_adjustment_rows": [
            {
                "variant_id": variant,
                "quantity": 20_000,
                "serial_numbers": [f"SN-{i:06d}" for i in range(1, 20_001)],
            }
        ],
    }
    with counting(engine) as statements:
        r = client.post("/v1/stock_adjustments", json=body)
    assert r.status_code == 200, r.text
    assert len(r.json()["stock_adjustment_rows"][0]["traceability"]) == 20_000
    # One statement per serial would be 20,000+; chunked IN lists and batched INSERTs are few.
    assert len(statements) < 100, top(statements)
    with w.tx() as s:
        check_ledger(s)


def test_a_500_batch_receipt_costs_a_bounded_number_of_statements_per_batch(engine, sessions):
    w = World(sessions).setup()
    _, (variant,) = w.item("Flour", "batch")
    today = date.today()
    rows = [
        {
            "variant_id": variant,
            "quantity": 500 * 10,
            "batch_transactions": [
                {
                    "batch_number": f"LOT-{i:04d}",
                    "quantity": 10,
                    "expiration_date": today + timedelta(days=i),
                }
                for i in range(500)
            ],
        }
    ]
    with counting(engine) as statements:
        w.adjust(rows)
    # Set-based: batches looked up and created in one go, one stock upsert and one
    # movement INSERT for all 500 (batched by the driver), not ~6 statements per batch.
    assert len(statements) < 40, top(statements)
    with w.tx() as s:
        check_ledger(s)


def _world_with_lists(w: World, n: int) -> None:
    """n adjustments (serial and batch rows), n batches, n serials, n customers."""
    _, (serial_v,) = w.item("Meter", "serial")
    _, (batch_v,) = w.item("Resin", "batch")
    with w.tx() as s:
        from tracelot.services import catalog

        for i in range(n):
            catalog.save_customer(s, None, {"name": f"Customer {i}"})
    for i in range(n):
        w.adjust(
            [
                {"variant_id": serial_v, "quantity": 1, "serial_numbers": [f"M-{i:04d}"]},
                {
                    "variant_id": batch_v,
                    "quantity": 2,
                    "batch_transactions": [{"batch_number": f"R-{i:04d}", "quantity": 2}],
                },
            ]
        )


LISTS = [
    "/v1/stock_adjustments",
    "/v1/batches",
    "/v1/batch_stocks",
    "/v1/serial_numbers",
    "/v1/serial_numbers_stock",
    "/v1/inventory_movements",
    "/v1/products",
    "/v1/variants",
    "/v1/customers",
]


@pytest.mark.parametrize("path", LISTS)
def test_list_pages_do_not_grow_with_page_size(path, client, engine, sessions):
    w = World(sessions).setup()
    _world_with_lists(w, 22)
    w.item("Widget")  # a few products beside the tracked ones
    counts = {}
    for limit in (2, 20):
        with counting(engine) as statements:
            r = client.get(path, params={"limit": limit})
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) >= min(limit, 3), path
        counts[limit] = statements
    assert len(counts[20]) <= len(counts[2]), (
        path,
        len(counts[2]),
        len(counts[20]),
        top(counts[20]),
    )


def test_the_sell_list_page_does_not_grow_with_page_size(client, engine, sessions):
    sales = pytest.importorskip("tracelot.services.sales")
    w = World(sessions).setup()
    _, (variant,) = w.item("Gauge", "serial")
    w.adjust([{"variant_id": variant, "quantity": 30, "serial_numbers": ["G-001..G-030"]}])
    with w.tx() as s:
        from tracelot.services import catalog

        customer = catalog.save_customer(s, None, {"name": "Buyer"}).id
        for _ in range(22):
            sales.create_order(
                s,
                {
                    "customer_id": customer,
                    "location_id": w.location_id,
                    "sales_order_rows": [{"variant_id": variant, "quantity": 1}],
                },
                "test",
            )
    counts = {}
    for limit in (2, 20):
        with counting(engine) as statements:
            r = client.get("/v1/sales_orders", params={"limit": limit})
        assert r.status_code == 200, r.text
        counts[limit] = statements
    assert len(counts[20]) <= len(counts[2]), (len(counts[2]), len(counts[20]), top(counts[20]))


# --- the sell path (W1 phases 3 and 4): statements per order, not time -------------------------
#
# Counted with the engine event, BEGIN included. SQLite runs one writer at a time, so a
# fulfilment keeps the facts it read and writes the order's cache without reading it
# again; PostgreSQL locks the row and reads the order's facts again after its writes.
SELL_CEILING = {
    # create (4: BEGIN, context, order, row) + picker (2) + fulfil (10: state, fulfilment,
    # row, serials, stock, movement, hold-and-ship, links, row cache, order cache)
    ("serial", "sqlite"): 16,
    ("serial", "postgresql"): 19,
    # create (4) + fulfil (10: state, fulfilment, row, FEFO page, others' picks of it,
    # stock, movement, picks, row cache, order cache); +2 when the 20 span two batches
    ("batch", "sqlite"): 16,
    ("batch", "postgresql"): 17,
}
HTTP_CEILING = {  # POST /v1/sales_orders, then the DELIVERED fulfilment naming its serials
    ("order", "sqlite"): 4,
    ("order", "postgresql"): 4,
    ("fulfilment", "sqlite"): 11,
    ("fulfilment", "postgresql"): 13,
}


def _sell_world(w: World, n: int) -> tuple[int, int, int]:
    from tracelot.services import catalog

    _, (serial_v,) = w.item("Meter", "serial")
    _, (batch_v,) = w.item("Resin", "batch")
    today = date.today()
    lots = (20 * n + 29) // 30  # of 30 units each: an order of 20 spans two now and then
    w.adjust(
        [
            {
                "variant_id": serial_v,
                "quantity": 5 * n,
                "serial_numbers": [f"M-001..M-{5 * n:03d}"],
            },
            {
                "variant_id": batch_v,
                "quantity": 30 * lots,
                "batch_transactions": [
                    {
                        "batch_number": f"R-{i:03d}",
                        "quantity": 30,
                        "expiration_date": today + timedelta(days=10 + i),
                    }
                    for i in range(lots)
                ],
            },
        ]
    )
    with w.tx() as s:
        customer = catalog.save_customer(s, None, {"name": "Buyer"}).id
    return customer, serial_v, batch_v


@pytest.mark.parametrize("kind", ["serial", "batch"])
def test_a_sale_through_the_services_costs_a_fixed_number_of_statements(kind, engine, sessions):
    """W1's sell step (bench/sales_steps.py): create, pick serials or FEFO batches, deliver.

    The same count for the first order as for the tenth: nothing grows with the
    orders, serials or picks already in the database.
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.sales_steps import service_steps

    w = World(sessions).setup()
    customer, serial_v, batch_v = _sell_world(w, 10)
    sell = service_steps()
    assert sell is not None
    variant, qty = (serial_v, 5) if kind == "serial" else (batch_v, 20)
    counts = []
    for _ in range(10):
        with counting(engine) as statements, w.tx() as s:
            sell(s, customer, w.location_id, variant, qty)
        counts.append(len(statements))
    ceiling = SELL_CEILING[(kind, engine.dialect.name)]
    assert max(counts) <= ceiling, (counts, top(statements))
    assert max(counts) - min(counts) <= 2, counts  # no growth with what was sold before
    with w.tx() as s:
        check_ledger(s)


def test_a_sale_over_http_costs_a_fixed_number_of_statements(client, engine, sessions):
    """W1 phase 3 over HTTP (bench/sales_steps.http_steps): two requests per order."""
    w = World(sessions).setup()
    customer, serial_v, _ = _sell_world(w, 4)
    dialect = engine.dialect.name
    for k in range(4):
        with counting(engine) as created:
            r = client.post(
                "/v1/sales_orders",
                json={
                    "customer_id": customer,
                    "location_id": w.location_id,
                    "sales_order_rows": [{"variant_id": serial_v, "quantity": 5}],
                },
            )
        assert r.status_code == 200, r.text
        order = r.json()
        labels = [f"M-{i:03d}" for i in range(5 * k + 1, 5 * k + 6)]
        with counting(engine) as shipped:
            r = client.post(
                "/v1/sales_order_fulfillments",
                json={
                    "sales_order_id": order["id"],
                    "status": "DELIVERED",
                    "sales_order_fulfillment_rows": [
                        {
                            "sales_order_row_id": order["sales_order_rows"][0]["id"],
                            "serial_number_strings": labels,
                        }
                    ],
                },
            )
        assert r.status_code == 200, r.text
        assert len(r.json()["sales_order_fulfillment_rows"][0]["serial_numbers"]) == 5
        if k:  # the first request also looked the API token up
            assert len(created) <= HTTP_CEILING[("order", dialect)], top(created)
            assert len(shipped) <= HTTP_CEILING[("fulfilment", dialect)], top(shipped)
    got = client.get(f"/v1/sales_orders/{order['id']}").json()
    assert got["status"] == "DELIVERED" and got["tracing_status"] == "complete", got
    with w.tx() as s:
        check_ledger(s)

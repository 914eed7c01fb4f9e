"""Query-count ceilings: bulk work stays set-based and list pages stay free of N+1 queries.

Statements are counted on the engine (``before_cursor_execute``), never timed.
A list endpoint must issue the same number of statements for a page of 2 as for
a page of 20: a loop that queries per listed object shows up as growth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from support.world import World, check_ledger


@contextmanager
def counting(engine) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


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

"""The batch page lists where a batch went one page at a time: a lot sold to thousands of
customers answers as fast as one sold to three, and none of them is out of reach."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from support.world import World
from tracelot.db.models import Batch
from tracelot.services import catalog, fulfillments, manufacturing, sales

ORDERS = 55


def _sold_to_many(w: World) -> int:
    """One lot of 55 units, one unit delivered to each of 55 orders."""
    _, (vid,) = w.item("Honey", "batch")
    w.adjust(
        [
            {
                "variant_id": vid,
                "quantity": ORDERS,
                "batch_transactions": [{"batch_number": "H-1", "quantity": ORDERS}],
            }
        ]
    )
    with w.tx() as s:
        customer = catalog.save_customer(s, None, {"name": "Corner Shop"}).id
        for _ in range(ORDERS):
            order = sales.create_order(
                s,
                {"customer_id": customer, "sales_order_rows": [{"variant_id": vid, "quantity": 1}]},
                "test",
            )
            row = sales.live_rows(s, order.id)[0]
            fulfillments.create(
                s,
                {
                    "sales_order_id": order.id,
                    "status": "DELIVERED",
                    "sales_order_fulfillment_rows": [{"sales_order_row_id": row.id}],
                },
                "test",
            )
        return int(s.scalars(select(Batch.id).where(Batch.batch_number == "H-1")).one())


def _shipment_rows(html: str) -> int:
    table = html.split('id="shipments"', 1)[1].split("</table>", 1)[0]
    return table.count("Corner Shop")


def test_the_batch_page_pages_through_every_shipment_of_a_lot(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    batch_id = _sold_to_many(w)
    first = web.get(f"/stock/batches/{batch_id}")
    assert first.status_code == 200
    assert _shipment_rows(first.text) == 50
    assert f"1–50 of {ORDERS}" in first.text
    assert f'href="/stock/batches/{batch_id}?ship_page=2"' in first.text
    second = web.get(f"/stock/batches/{batch_id}", params={"ship_page": 2})
    assert _shipment_rows(second.text) == ORDERS - 50
    assert f"51–{ORDERS} of {ORDERS}" in second.text


def test_the_trace_picture_says_how_many_more_units_a_lot_reaches(
    web: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    """A lot made into 55 serial products: the picture draws one page of the trace and
    says how much more there is, instead of silently stopping."""
    w = World(sessions).setup()
    _, (resin,) = w.item("Resin", "batch", kind="material")
    _, (kit,) = w.item("Kit", "serial")
    w.adjust(
        [
            {
                "variant_id": resin,
                "quantity": 60,
                "batch_transactions": [{"batch_number": "R-1", "quantity": 60}],
            }
        ]
    )
    with w.tx() as s:
        lot = int(s.scalars(select(Batch.id).where(Batch.batch_number == "R-1")).one())
        mo = manufacturing.create_order(
            s, {"variant_id": kit, "planned_quantity": ORDERS, "location_id": w.location_id}, "t"
        )
        manufacturing.add_recipe_row(
            s,
            {"manufacturing_order_id": mo.id, "variant_id": resin, "planned_quantity_per_unit": 1},
            "t",
        )
        ids = manufacturing.link_serials(s, mo.id, [f"K-{i:03d}" for i in range(ORDERS)], "t")
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo.id,
                "completed_quantity": ORDERS,
                "serial_numbers": ids,
                "traceability": [{"batch_id": lot, "quantity": ORDERS}],
            },
            "t",
        )
    page = web.get(f"/stock/batches/{lot}").text
    note = re.search(r'id="trace-more">(\d+) more batches and serials', page)
    assert note is not None, "the picture does not say that more is reached"
    assert int(note[1]) == ORDERS + 1 - 50  # the lot and 55 kits, 50 drawn

"""The serial picker's list over HTTP: 50 to browse, and as many as the row's quantity
(at most 1000) when "select all up to the quantity" asks for them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.world import World
from tracelot.services import catalog, sales


def _rows(w: World, units: int, quantities: list[int]) -> list[int]:
    """Sales rows of a serial item with ``units`` serials in stock, one per quantity."""
    _, (vid,) = w.item("Drill", "serial")
    w.adjust([{"variant_id": vid, "quantity": units, "serial_numbers": [f"D-0001..D-{units:04d}"]}])
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Builder"})
        order = sales.create_order(
            s,
            {
                "customer_id": cust.id,
                "location_id": w.location_id,
                "sales_order_rows": [{"variant_id": vid, "quantity": q} for q in quantities],
            },
            "test",
        )
        return [r.id for r in sales.live_rows(s, order.id)]


def _free(web: TestClient, row: int, **params: object) -> list[str]:
    r = web.get(f"/sell/rows/{row}/serials", params=params)
    assert r.status_code == 200
    return [s["number"] for s in r.json()["free"]]


def test_the_picker_lists_50_but_select_all_gets_as_many_as_the_quantity(
    web: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    (row,) = _rows(World(sessions).setup(), 80, [60])
    assert len(_free(web, row)) == 50
    wanted = _free(web, row, limit=60)
    assert wanted == [f"D-{i:04d}" for i in range(1, 61)]
    assert len(_free(web, row, limit=500)) == 60, "never more than the row's quantity"
    assert _free(web, row, q="D-007", limit=60) == [f"D-007{i}" for i in range(10)]


def test_select_all_asks_for_at_most_1000_serials(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    (row,) = _rows(World(sessions).setup(), 1005, [1005])
    assert len(_free(web, row, limit=1005)) == 1000

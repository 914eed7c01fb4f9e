"""The sales order list of the API is served by indexes once the planner has statistics
(SQLite's EXPLAIN QUERY PLAN of the statements the endpoint really sends).

At 200,000 orders and 1,000,000 serials (``make bench-scale``) two of them scanned a
whole table: the rows' held serials (the statistics of a holder index that also held
every free serial lumped the free ones together, so ``holder_id IN (...) ORDER BY id``
looked cheaper as a scan) and the X-Pagination COUNT of live orders. Tests are never
timed: they check the plans, which decide the time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

import tracelot.db.models  # noqa: F401
from support.plans import plans as query_plans
from support.world import World
from tracelot.api.app import create_app
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, make_sessionmaker
from tracelot.services import auth, catalog, sales

ORDERS = 120
FREE_SERIALS = 3000


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Engine, TestClient]]:
    """Many free serials, a few held by order rows, statistics gathered (ANALYZE)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    Base.metadata.create_all(engine)
    w = World(make_sessionmaker(engine)).setup()
    item_id, (vid,) = w.item("Drill", tracking="serial")
    with w.tx() as s:
        customer = catalog.save_customer(s, None, {"name": "Buyer"}).id
        rows = [
            sales.create_order(
                s,
                {"customer_id": customer, "sales_order_rows": [{"variant_id": vid, "quantity": 1}]},
                "test",
            ).id
            for _ in range(ORDERS)
        ]
        s.execute(
            text(
                "INSERT INTO serials (item_id, variant_id, serial_number, status, location_id,"
                " holder_type, holder_id, created_at, updated_at)"
                " VALUES (:item, :v, :n, 'in_stock', :loc, :ht, :hid, '2026-01-01', '2026-01-01')"
            ),
            [
                {
                    "item": item_id,
                    "v": vid,
                    "n": f"SN-{i:06d}",
                    "loc": w.location_id,
                    "ht": "SalesOrderRow" if i < ORDERS else None,
                    "hid": rows[i] if i < ORDERS else None,
                }
                for i in range(FREE_SERIALS + ORDERS)
            ],
        )
        s.execute(text("ANALYZE"))
        token = auth.create_token(s, "plans")
    with TestClient(create_app(engine=engine), headers={"Authorization": f"Bearer {token}"}) as c:
        yield engine, c
    engine.dispose()


@pytest.mark.parametrize("page", [1, 2])
def test_the_sales_order_list_never_scans_orders_or_serials(
    shop: tuple[Engine, TestClient], page: int
) -> None:
    engine, client = shop

    def run() -> None:
        r = client.get("/v1/sales_orders", params={"limit": 50, "page": page})
        assert r.status_code == 200
        assert len(r.json()["data"]) == 50
        assert all(row["serial_numbers"] for o in r.json()["data"] for row in o["sales_order_rows"])

    plans = query_plans(engine, run)
    touched = [s for s, _ in plans if "serials" in s or "sales_orders" in s]
    assert touched, "the endpoint read no orders or serials"
    assert _whole_table_reads(plans) == []


def _whole_table_reads(plans: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """Scans that read every order or serial. Walking orders newest first and stopping at
    the page's LIMIT is a scan in SQLite's words but reads only the page: allowed."""
    found = []
    for stmt, plan in plans:
        pages_in_order = " LIMIT " in stmt and not any("TEMP B-TREE" in p for p in plan)
        for step in plan:
            table = step.split()[1] if step.startswith("SCAN ") else ""
            if table == "serials" or (
                table == "sales_orders" and ("count(" in stmt or not pages_in_order)
            ):
                found.append((" ".join(stmt.split())[:120], step))
    return found

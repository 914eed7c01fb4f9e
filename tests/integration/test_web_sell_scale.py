"""Acceptance 3 of issue 7, structurally: the Sell list, its channel dropdown and the
serial picker are served by indexes (SQLite's EXPLAIN QUERY PLAN of the statements the
pages really run), so they cost the same with 50,000 orders or 100,000 serials. The
timings at scale are in bench/scale.py; tests are never timed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

import tracelot.db.models  # noqa: F401
from support.plans import plans as query_plans
from support.world import World
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, make_sessionmaker, transaction
from tracelot.db.models import SalesOrderRow
from tracelot.services import catalog, picking, sales, users
from tracelot.web import sales_queries as sq
from tracelot.web.paging import paged


def _orders(w: World, count: int) -> int:
    _, (vid,) = w.item("Mug")
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Buyer"})
        for i in range(count):
            extra = {"ecommerce_order_type": "shopify", "ecommerce_order_id": f"E{i}"}
            sales.create_order(
                s,
                {
                    "customer_id": cust.id,
                    "sales_order_rows": [{"variant_id": vid, "quantity": 1}],
                    **(extra if i % 3 == 0 else {}),
                },
                "test",
            )
    return vid


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[tuple[Engine, World]]:
    """A SQLite database of its own (the plans are SQLite's; PostgreSQL has its own)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    Base.metadata.create_all(engine)
    yield engine, World(make_sessionmaker(engine)).setup()
    engine.dispose()


@pytest.mark.parametrize(
    "filters",
    [("", "", "", ""), ("", "PACKED", "", ""), ("", "", "missing", ""), ("", "", "", "shopify")],
)
def test_the_sell_list_and_its_count_never_sort_or_scan_all_orders_for_a_filter(
    sqlite_world: tuple[Engine, World], filters: tuple[str, str, str, str]
) -> None:
    engine, w = sqlite_world
    _orders(w, 12)

    def run() -> None:
        with w.tx() as s:
            paged(s, sq.order_list(*filters), 1, limit=5, count=sq.order_count(*filters))

    plans = query_plans(engine, run)
    assert len(plans) == 2
    for statement, plan in plans:
        assert not any("TEMP B-TREE" in p for p in plan), (statement, plan)
        if any(filters):  # a filter reads its index, not every order
            assert not any(p.startswith("SCAN sales_orders") for p in plan), (statement, plan)
    count_plan = plans[0][1]
    assert not any("customers" in p for p in count_plan), count_plan  # no join to count


def test_the_channel_dropdown_is_an_index_skip_scan_of_the_imports(
    sqlite_world: tuple[Engine, World],
) -> None:
    engine, w = sqlite_world
    _orders(w, 6)
    found: list[str] = []

    def run() -> None:
        with w.tx() as s:
            found.extend(sq.channels(s))

    ((statement, plan),) = query_plans(engine, run)
    assert found == ["shopify"]
    assert not any("sales_orders" in p for p in plan), plan
    assert all(
        "USING COVERING INDEX" in p for p in plan if p.startswith(("SEARCH", "SCAN order"))
    ), plan


def test_the_serial_picker_reads_one_index_range(sqlite_world: tuple[Engine, World]) -> None:
    engine, w = sqlite_world
    _, (vid,) = w.item("Machine", "serial")
    w.adjust([{"variant_id": vid, "quantity": 30, "serial_numbers": ["M-001..M-030"]}])
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "C"})
        order = sales.create_order(
            s,
            {"customer_id": cust.id, "sales_order_rows": [{"variant_id": vid, "quantity": 2}]},
            "t",
        )
        row_id = sales.live_rows(s, order.id)[0].id

    def run() -> None:
        with w.tx() as s:
            row = s.get(SalesOrderRow, row_id)
            picking.serial_picker(s, row, q="M-01")
            picking.serial_picker(s, row)

    plans = [p for p in query_plans(engine, run) if "FROM serials" in p[0]]
    free = [plan for statement, plan in plans if "serials.holder_type IS NULL" in statement]
    assert len(free) == 2
    for plan in free:
        assert any("USING INDEX ix_serials_picker" in p for p in plan), plan
        assert not any("TEMP B-TREE" in p for p in plan), plan  # ordered by the index
    assert "serial_number>? AND serial_number<?" in " ".join(free[0])  # prefix = range


def test_the_channel_filter_lists_and_selects_imported_orders(web_signed_in: TestClient) -> None:
    r = web_signed_in.get("/sell?channel=shopify")
    assert '<option value="shopify" selected>' in r.text
    assert r.text.count('name="ids"') == 2
    local = web_signed_in.get("/sell?channel=local")
    assert local.text.count('name="ids"') == 4


@pytest.fixture
def web_signed_in(app, sessions) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    _orders(World(sessions).setup(), 6)
    with transaction(sessions) as s:
        users.create_user(s, "ann", "s3cret-pass")
    with TestClient(app) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        c.post(
            "/login",
            data={"username": "ann", "password": "s3cret-pass", "csrf_token": token.group(1)},  # type: ignore[union-attr]
        )
        yield c

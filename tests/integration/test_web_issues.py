"""The Tracing issues page over HTTP: the API's tracing issues (same query, same messages and
links), one section per kind, paged in the database, filtered by kind."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from support.world import World, shipped_without_serials
from tracelot.db.models import Batch


def _section(html: str, section_id: str) -> str:
    found = re.search(rf'<section class="card" id="{section_id}">(.*?)</section>', html, re.S)
    assert found, f"no section #{section_id}"
    return found.group(1)


def _expiring_lots(w: World, count: int) -> list[int]:
    _, (vid,) = w.item("Yoghurt", "batch")
    soon = date.today() + timedelta(days=5)
    w.adjust(
        [
            {
                "variant_id": vid,
                "quantity": count,
                "batch_transactions": [
                    {"batch_number": f"Y-{i:03d}", "quantity": 1, "expiration_date": soon}
                    for i in range(count)
                ],
            }
        ]
    )
    with w.tx() as s:
        return list(s.scalars(select(Batch.id).where(Batch.variant_id == vid)))


def test_the_issues_page_shows_the_api_issues_with_a_link_to_fix_each(
    web: TestClient, client: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    order_id, _, _ = shipped_without_serials(w)
    (batch_id,) = _expiring_lots(w, 1)
    html = web.get("/issues").text
    for issue in client.get("/v1/tracing_issues").json()["data"]:
        assert issue["message"].replace("'", "&#39;") in html
    orders = _section(html, "missing-orders")
    assert f'<a href="/sell/{order_id}">Assign on the order</a>' in orders
    assert "shipped 2 unit(s) without serial numbers" in orders
    expiring = _section(html, "expiring")
    assert f'<a href="/stock/batches/{batch_id}">Open batch</a>' in expiring
    assert "Main (1)" in expiring, "where the batch is, with its quantity"
    assert html.index('id="missing-orders"') < html.index('id="expiring"'), "most urgent first"


def test_the_issues_page_pages_in_the_database_and_filters_by_kind(
    web: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    lots = _expiring_lots(w, 55)
    shipped_without_serials(w)
    first = web.get("/issues").text
    assert "1–50 of 56" in first and 'rel="next"' in first
    assert first.count("Open batch") == 49 and first.count("Assign on the order") == 1
    second = web.get("/issues?page=2").text
    assert "51–56 of 56" in second and second.count("Open batch") == 6
    assert "Assign on the order" not in second
    only = web.get("/issues?kind=batch_expiring").text
    assert "1–50 of 55" in only and "Assign on the order" not in only
    links = set(re.findall(r'href="/stock/batches/(\d+)"', only))
    links |= set(
        re.findall(
            r'href="/stock/batches/(\d+)"', web.get("/issues?kind=batch_expiring&page=2").text
        )
    )
    assert links == {str(i) for i in lots}


def test_with_nothing_to_fix_the_issues_page_says_so(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    World(sessions).setup()
    html = web.get("/issues").text
    assert "Nothing needs attention" in html and 'class="pager"' not in html


def test_the_issues_page_counts_its_issues_once_for_every_kind_and_the_total(
    web: TestClient, sessions, engine
) -> None:  # type: ignore[no-untyped-def]
    """The issues union (its "stock not connected" part counts every free serial) is
    evaluated for the per-kind counts and for the page, never a third time to COUNT."""
    from sqlalchemy import event

    w = World(sessions).setup()
    _expiring_lots(w, 3)
    shipped_without_serials(w)
    unions: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "UNION ALL" in statement and "FROM stock" in statement:
            unions.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        html = web.get("/issues").text
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert html.count("Open batch") == 3 and html.count("Assign on the order") == 1
    assert len(unions) == 2

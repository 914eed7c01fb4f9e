"""The web pages over HTTP (in-process): sign-in, CSRF, items, tracking change, stock."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.statements import counting
from support.world import World, ledger_snapshot
from tracelot.db.engine import transaction
from tracelot.db.models import Item, User
from tracelot.services import users


@pytest.fixture
def web(app, sessions):  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        users.create_user(s, "ann", "s3cret-pass")
    with TestClient(app) as c:
        yield c


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def sign_in(web: TestClient, password: str = "s3cret-pass"):  # type: ignore[no-untyped-def]
    form = web.get("/login")
    return web.post(
        "/login",
        data={
            "username": "ann",
            "password": password,
            "csrf_token": _csrf(form.text),
            "next": "/items",
        },
        follow_redirects=False,
    )


def test_pages_need_sign_in(web: TestClient) -> None:
    r = web.get("/items", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/items")


def test_wrong_password_is_refused_without_saying_which_was_wrong(web: TestClient) -> None:
    r = sign_in(web, "nope")
    assert r.status_code == 401 and "Wrong user name or password" in r.text


def test_signing_in_opens_the_pages(web: TestClient) -> None:
    r = sign_in(web)
    assert r.status_code == 303 and r.headers["location"] == "/items"
    assert web.get("/items").status_code == 200


def test_passwords_are_stored_as_argon2_hashes(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "ann"))
    assert stored.startswith("$argon2") and "s3cret-pass" not in stored


def test_a_form_without_the_csrf_token_is_refused(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    item_id, _ = w.item("Widget", "batch")
    sign_in(web)
    r = web.post(f"/items/{item_id}/tracking", data={"tracking": "none", "confirm": "yes"})
    assert r.status_code == 403
    with transaction(sessions) as s:
        assert s.get(Item, item_id).tracking == "batch"


def test_switching_batch_to_serial_explains_both_ways_out_and_changes_nothing(
    web: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    item_id, (vid,) = w.item("Beans", "batch")
    w.adjust(
        [
            {
                "variant_id": vid,
                "quantity": 5,
                "batch_transactions": [{"batch_number": "B1", "quantity": 5}],
            }
        ]
    )
    sign_in(web)
    card = web.get(f"/items/{item_id}")
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    r = web.post(
        f"/items/{item_id}/tracking", data={"tracking": "serial", "csrf_token": _csrf(card.text)}
    )
    assert r.status_code == 200  # the page explains; a 4xx would log a browser console error
    assert "set its tracking to none first" in r.text and "create a new item" in r.text
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before and s.get(Item, item_id).tracking == "batch"


def test_turning_tracking_off_asks_first_then_archives(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    item_id, (vid,) = w.item("Beans", "batch")
    w.adjust(
        [
            {
                "variant_id": vid,
                "quantity": 5,
                "batch_transactions": [{"batch_number": "B1", "quantity": 5}],
            }
        ]
    )
    sign_in(web)
    token = _csrf(web.get(f"/items/{item_id}").text)
    ask = web.post(f"/items/{item_id}/tracking", data={"tracking": "none", "csrf_token": token})
    assert "1 batch(es)" in ask.text and "removed" in ask.text
    with transaction(sessions) as s:
        assert s.get(Item, item_id).tracking == "batch"
    done = web.post(
        f"/items/{item_id}/tracking",
        data={"tracking": "none", "confirm": "yes", "csrf_token": token},
    )
    assert done.status_code == 200 and "Tracking setting changed" in done.text
    link = re.search(r'href="(/items/\d+/archives/\d+)"', done.text).group(1)  # type: ignore[union-attr]
    assert "B1" in web.get(link).text


def test_stock_tabs_list_batches_and_serials(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    _, (bv,) = w.item("Beans", "batch")
    _, (sv,) = w.item("Machine", "serial")
    w.adjust(
        [
            {
                "variant_id": bv,
                "quantity": 5,
                "batch_transactions": [{"batch_number": "LOT-7", "quantity": 5}],
            },
            {"variant_id": sv, "quantity": 2, "serial_numbers": ["M-1", "M-2"]},
        ]
    )
    sign_in(web)
    batches = web.get("/stock?tab=batches")
    assert "LOT-7" in batches.text
    serials = web.get("/stock?tab=serials&q=M-2")
    assert "M-2" in serials.text and "M-1<" not in serials.text
    batch_link = re.search(r'href="(/stock/batches/\d+)"', batches.text).group(1)  # type: ignore[union-attr]
    assert "Movements" in web.get(batch_link).text
    serial_link = re.search(r'href="(/stock/serials/\d+)"', serials.text).group(1)  # type: ignore[union-attr]
    assert "Timeline" in web.get(serial_link).text


def test_the_sell_list_pages_on_the_server_with_a_fixed_number_of_queries(
    web: TestClient, sessions, engine
) -> None:  # type: ignore[no-untyped-def]
    """50 rows a page whatever the total, in a handful of statements (no N+1)."""

    from tracelot.services import catalog, sales

    w = World(sessions).setup()
    _, (vid,) = w.item("Mug")
    with transaction(sessions) as s:
        cust = catalog.save_customer(s, None, {"name": "Bulk buyer"})
        for _ in range(60):
            sales.create_order(
                s,
                {"customer_id": cust.id, "sales_order_rows": [{"variant_id": vid, "quantity": 1}]},
                "test",
            )
    sign_in(web)
    with counting(engine) as seen:
        first = web.get("/sell")
        second = web.get("/sell?page=2")
    assert first.text.count('name="ids"') == 50 and second.text.count('name="ids"') == 10
    assert "1–50 of 60" in first.text and "51–60 of 60" in second.text
    # A switch of a pooled SQLite connection to reading (PRAGMA query_only) depends on
    # what the connection did before, not on the page.
    assert len([q for q in seen if not q.startswith("PRAGMA")]) <= 2 * 6
    lists = [q for q in seen if "sales_orders.order_no" in q and "count(" not in q]
    assert lists and all("LIMIT" in q.upper() for q in lists)


def test_a_page_takes_two_worker_threads_on_sqlite(web: TestClient, engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The signed-in check and the handler: the read session's opening and closing run
    on the event loop on SQLite (two more worker threads before); on PostgreSQL the
    closing keeps its worker thread (a network round trip)."""
    import anyio.to_thread

    sign_in(web)
    web.get("/sell")
    real = anyio.to_thread.run_sync
    hops: list[Any] = []

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(fn)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    assert web.get("/sell", follow_redirects=False).status_code == 200  # signed in
    assert len(hops) == (2 if engine.dialect.name == "sqlite" else 3), hops

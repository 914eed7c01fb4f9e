"""Acceptance #1 (sales): pack short, the Tracing warning, the serial picker by typing and
by GS1 scan, and revert-assign-deliver on an imported delivered order."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tracelot.db.models import Location
from tracelot.services import adjustments, catalog, ecommerce, sales

pytestmark = pytest.mark.browser


def _machines(tx: Any, tag: str, gtin: str, count: int = 6) -> dict[str, Any]:
    """A serial item with ``count`` units in stock at its own location."""
    with tx() as s:
        loc = catalog.save_location(s, None, {"name": f"{tag} warehouse"})
        cust = catalog.save_customer(s, None, {"name": f"{tag} Café"})
        item = catalog.create_item(
            s,
            "product",
            {
                "name": f"{tag} machine",
                "tracking": "serial",
                "variants": [{"sku": f"{tag}-M", "gtin": gtin}],
            },
        )
        adjustments.create(
            s,
            {
                "location_id": loc.id,
                "stock_adjustment_rows": [
                    {
                        "variant_id": item.variants[0].id,
                        "quantity": count,
                        "serial_numbers": [f"{tag}-001..{tag}-{count:03d}"],
                    }
                ],
            },
            "seed",
        )
        return {"loc": loc.id, "cust": cust.id, "variant": item.variants[0].id, "sku": f"{tag}-M"}


def test_pack_short_then_assign_by_typing_and_by_gs1_scan(page: Any, tx: Any, shot: Any) -> None:
    w = _machines(tx, "PK", "09506000134352")
    with tx() as s:
        order = sales.create_order(
            s,
            {
                "customer_id": w["cust"],
                "location_id": w["loc"],
                "sales_order_rows": [{"variant_id": w["variant"], "quantity": 3}],
            },
            "seed",
        )
        order_id, order_no = order.id, order.order_no
    page.goto(f"/sell/{order_id}")
    page.get_by_role("button", name="Mark packed").click()
    expect(page.locator("#order-status")).to_have_text("packed")
    page.goto("/sell?tracing=missing")
    row = page.locator(f"tr[data-order='{order_no}']")
    expect(row.locator(".tracing")).to_contain_text("⚠ 3")
    shot(page, "sell-list-warning")

    row.get_by_role("link", name=order_no).click()
    page.locator(".picker-open").click()
    picker = page.locator("#picker")
    expect(picker).to_be_visible()
    expect(page.locator("#picker-count")).to_have_text("0 of 3")
    expect(page.locator("#picker-scan")).to_be_focused()
    # by typing: filter, then tick with the keyboard
    page.locator("#picker-filter").fill("PK-002")
    expect(picker.get_by_role("checkbox")).to_have_count(1)
    picker.get_by_label("PK-002").focus()
    page.keyboard.press("Space")
    expect(page.locator("#picker-count")).to_have_text("1 of 3")
    # by a scanner: a GS1 string (GTIN + serial), ended with Enter
    page.locator("#picker-scan").fill("(01)09506000134352(21)PK-005")
    page.locator("#picker-scan").press("Enter")
    expect(page.locator("#picker-status")).to_contain_text("Added PK-005")
    expect(page.locator("#picker-count")).to_have_text("2 of 3")
    page.locator("#picker-scan").fill("010950600013435221PK-001")
    page.locator("#picker-scan").press("Enter")
    expect(page.locator("#picker-count")).to_have_text("3 of 3")
    shot(page, "serial-picker")
    page.locator("#picker-done").click()
    expect(page.get_by_role("status").first).to_contain_text("3 of 3 assigned")
    expect(page.locator("#rows .trace-ok")).to_be_visible()
    shot(page, "sales-order-complete")
    page.goto(f"/sell?q={order_no}")
    expect(page.locator(f"tr[data-order='{order_no}'] .trace-ok")).to_be_visible()


def test_a_wrong_scan_is_explained_in_the_picker(page: Any, tx: Any) -> None:
    w = _machines(tx, "WS", "09506000134369")
    with tx() as s:
        order_id = sales.create_order(
            s,
            {
                "customer_id": w["cust"],
                "location_id": w["loc"],
                "sales_order_rows": [{"variant_id": w["variant"], "quantity": 1}],
            },
            "seed",
        ).id
    page.goto(f"/sell/{order_id}")
    page.locator(".picker-open").click()
    page.locator("#picker-scan").fill("(01)09506000134352(21)WS-001")
    page.locator("#picker-scan").press("Enter")
    expect(page.locator("#picker-status")).to_contain_text("is not the GTIN of WS-M")
    page.keyboard.press("Escape")
    expect(page.locator("#picker")).to_be_hidden()


def test_revert_assign_deliver_on_an_imported_delivered_order(
    page: Any, tx: Any, shot: Any
) -> None:
    w = _machines(tx, "IM", "09506000134376")
    with tx() as s:  # store orders ship from the primary location
        catalog.save_location(s, s.get(Location, w["loc"]), {"is_primary": True})
    with tx() as s:
        order, _ = ecommerce.import_order(
            s,
            "generic",
            {
                "order_id": "web-1001",
                "order_no": "#1001",
                "status": "completed",
                "customer": {"name": "Online Olga"},
                "lines": [{"sku": w["sku"], "quantity": 2}],
            },
            "import",
        )
        order_id = order.id
    page.goto("/sell?channel=generic")
    expect(page.locator("#orders")).to_contain_text("Online Olga")
    page.goto(f"/sell/{order_id}")
    expect(page.locator("#store")).to_contain_text("never pushes them back to the store")
    expect(page.locator("#order-status")).to_have_text("delivered")
    shot(page, "imported-order-warning")
    page.locator(".picker-open").click()
    expect(page.locator("#picker-done")).to_have_text("Revert, assign and deliver")
    expect(page.locator("#picker-count")).to_have_text("0 of 2")  # the list has loaded
    page.locator("#picker-all").click()
    expect(page.locator("#picker-count")).to_have_text("2 of 2")
    page.once("dialog", lambda d: d.accept())
    page.locator("#picker-done").click()
    expect(page.get_by_role("status").first).to_contain_text("delivered")
    expect(page.locator("#order-status")).to_have_text("delivered")
    expect(page.locator("#rows .trace-ok")).to_be_visible()
    expect(page.locator("#store-note")).to_contain_text("Reverted locally")
    shot(page, "imported-order-fixed")


def _settle(page: Any) -> None:
    """Let the page run what it queued (two animation frames), e.g. a fetch() it awaits."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_the_picker_waits_for_its_list_and_ignores_the_list_of_a_picker_reopened_since(
    page: Any, tx: Any
) -> None:
    a = _machines(tx, "SA", "09506000134383", count=4)
    b = _machines(tx, "SB", "09506000134390", count=4)
    with tx() as s:
        loc = s.get(Location, a["loc"])
        adjustments.create(
            s,
            {
                "location_id": loc.id,
                "stock_adjustment_rows": [
                    {
                        "variant_id": b["variant"],
                        "quantity": 4,
                        "serial_numbers": ["SB-101..SB-104"],
                    }
                ],
            },
            "seed",
        )
        order_id = sales.create_order(
            s,
            {
                "customer_id": a["cust"],
                "location_id": a["loc"],
                "sales_order_rows": [
                    {"variant_id": a["variant"], "quantity": 2},
                    {"variant_id": b["variant"], "quantity": 3},
                ],
            },
            "seed",
        ).id
    held: list[Any] = []
    page.route(lambda url: "/serials" in url, lambda route: held.append(route))
    page.goto(f"/sell/{order_id}")
    with page.expect_request(lambda r: "/serials" in r.url):
        page.locator(".picker-open").first.click()
    expect(page.locator("#picker-status")).to_have_text("Loading…")
    expect(page.locator("#picker-all")).to_be_disabled()
    expect(page.locator("#picker-done")).to_be_disabled()
    page.keyboard.press("Escape")
    with page.expect_request(lambda r: "/serials" in r.url):
        page.locator(".picker-open").nth(1).click()
    _settle(page)
    assert len(held) == 2, "both lists are still on their way"
    held[1].continue_()
    expect(page.locator("#picker-count")).to_have_text("0 of 3")
    expect(page.locator("#picker-all")).to_be_enabled()
    with page.expect_response(lambda r: "/serials" in r.url) as late:
        held[0].continue_()  # the first picker's list arrives last
    late.value.finished()
    _settle(page)
    expect(page.locator("#picker-options")).to_contain_text("SB-101")
    expect(page.locator("#picker-options")).not_to_contain_text("SA-")
    page.locator("#picker-all").click()
    expect(page.locator("#picker-count")).to_have_text("3 of 3")


def test_select_all_reaches_a_quantity_above_the_50_serials_the_picker_lists(
    page: Any, tx: Any
) -> None:
    w = _machines(tx, "SX", "09506000134406", count=70)
    with tx() as s:
        order_id = sales.create_order(
            s,
            {
                "customer_id": w["cust"],
                "location_id": w["loc"],
                "sales_order_rows": [{"variant_id": w["variant"], "quantity": 60}],
            },
            "seed",
        ).id
    page.goto(f"/sell/{order_id}")
    page.locator(".picker-open").click()
    expect(page.locator("#picker-count")).to_have_text("0 of 60")
    expect(page.locator("#picker-options").get_by_role("checkbox")).to_have_count(50)
    page.locator("#picker-all").click()
    expect(page.locator("#picker-count")).to_have_text("60 of 60")
    expect(page.locator("#picker-options").get_by_role("checkbox", checked=True)).to_have_count(60)
    page.locator("#picker-done").click()
    expect(page.get_by_role("status").first).to_contain_text("60 of 60 assigned")


def _tab_to(page: Any, target: Any, most: int = 60) -> None:
    """Press Tab until ``target`` has the focus (as a keyboard user would)."""
    for _ in range(most):
        if target.evaluate("(e) => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} cannot be reached with Tab")


def test_packing_and_assigning_serials_works_from_the_keyboard_alone(page: Any, tx: Any) -> None:
    w = _machines(tx, "KB", "09506000134413", count=4)
    with tx() as s:
        order_id = sales.create_order(
            s,
            {
                "customer_id": w["cust"],
                "location_id": w["loc"],
                "sales_order_rows": [{"variant_id": w["variant"], "quantity": 2}],
            },
            "seed",
        ).id
    page.goto(f"/sell/{order_id}")
    _tab_to(page, page.get_by_role("button", name="Mark packed"))
    page.keyboard.press("Enter")
    expect(page.locator("#order-status")).to_have_text("packed")
    _tab_to(page, page.locator(".picker-open"))
    page.keyboard.press("Enter")
    expect(page.locator("#picker-count")).to_have_text("0 of 2")
    expect(page.locator("#picker-scan")).to_be_focused()
    page.keyboard.type("(01)09506000134413(21)KB-003")  # a scanner types, then Enter
    page.keyboard.press("Enter")
    expect(page.locator("#picker-count")).to_have_text("1 of 2")
    page.keyboard.type("KB-001")  # a plain serial label
    page.keyboard.press("Enter")
    expect(page.locator("#picker-count")).to_have_text("2 of 2")
    _tab_to(page, page.locator("#picker-done"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("2 of 2 assigned")
    expect(page.locator("#rows .trace-ok")).to_be_visible()


def test_the_sell_list_the_order_and_the_open_picker_fit_a_tablet_in_portrait(
    page: Any, tx: Any, fits_a_tablet: Any, shot: Any
) -> None:
    w = _machines(tx, "TB", "09506000134420", count=3)
    with tx() as s:
        order = sales.create_order(
            s,
            {
                "customer_id": w["cust"],
                "location_id": w["loc"],
                "sales_order_rows": [{"variant_id": w["variant"], "quantity": 3}],
            },
            "seed",
        )
        order_id, order_no = order.id, order.order_no
    page.goto("/sell")
    fits_a_tablet(page)
    shot(page, "sell-tablet-portrait")
    page.get_by_role("link", name=order_no).click()
    expect(page.locator("#order-status")).to_be_visible()
    fits_a_tablet(page)
    shot(page, "order-tablet-portrait")
    page.locator(".picker-open").click()
    expect(page.locator("#picker-count")).to_have_text("0 of 3")
    fits_a_tablet(page)
    shot(page, "picker-tablet-portrait")
    assert page.url.endswith(f"/sell/{order_id}")

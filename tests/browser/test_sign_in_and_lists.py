"""The sign-in page, the Sell list as it opens and the Recall pick screen, with screenshots."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tracelot.services import catalog, sales

pytestmark = pytest.mark.browser


def test_a_signed_out_user_is_sent_to_sign_in_and_then_back_to_the_page(
    page: Any, watch: Any, account: tuple[str, str], shot: Any
) -> None:
    user, password = account
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to tracelot")
    page.goto("/sell?status=PACKED")
    assert "/login?next=" in page.url
    expect(page.get_by_label("User name")).to_be_focused()
    shot(page, "sign-in")
    watch.allow(401, "/login")  # a wrong password is refused with 401 and explained
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    shot(page, "sign-in-refused")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sales orders")
    assert page.url.endswith("/sell?status=PACKED")


def test_the_sell_list_opens_unfiltered_with_the_newest_order_first(
    page: Any, tx: Any, shot: Any
) -> None:
    with tx() as s:
        loc = catalog.save_location(s, None, {"name": "List shelf"})
        cust = catalog.save_customer(s, None, {"name": "Listing Lena"})
        item = catalog.create_item(
            s, "product", {"name": "List mug", "variants": [{"sku": "LIST-MUG"}]}
        )
        orders = [
            sales.create_order(
                s,
                {
                    "customer_id": cust.id,
                    "location_id": loc.id,
                    "sales_order_rows": [{"variant_id": item.variants[0].id, "quantity": n}],
                },
                "seed",
            ).order_no
            for n in (1, 2)
        ]
    page.goto("/sell")
    for select in ("Status", "Tracing", "Channel"):
        expect(page.get_by_label(select)).to_have_value("")
    first = page.locator("#orders tbody tr").first
    expect(first).to_have_attribute("data-order", orders[-1])
    expect(first).to_contain_text("Listing Lena")
    expect(page.locator(f"tr[data-order='{orders[0]}']")).to_be_visible()
    shot(page, "sell-list")


def test_the_recall_page_opens_on_the_pick_screen(page: Any, shot: Any) -> None:
    page.get_by_role("link", name="Recall").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Recall")
    expect(page.get_by_label("Batch or serial numbers")).to_be_empty()
    expect(page.get_by_role("button", name="Trace")).to_be_visible()
    expect(page.locator("#recall-summary")).to_have_count(0)
    shot(page, "recall-pick")

"""Items, the tracking setting, and the Stock tabs, in a real browser."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tracelot.services import adjustments, catalog

pytestmark = pytest.mark.browser


def _beans(tx: Any, name: str) -> dict[str, int]:
    with tx() as s:
        loc = catalog.save_location(s, None, {"name": f"{name} store"})
        item = catalog.create_item(
            s, "product", {"name": name, "tracking": "batch", "variants": [{"sku": f"{name}-1KG"}]}
        )
        adjustments.create(
            s,
            {
                "location_id": loc.id,
                "stock_adjustment_rows": [
                    {
                        "variant_id": item.variants[0].id,
                        "quantity": 30,
                        "batch_transactions": [
                            {
                                "batch_number": f"{name}-LOT1",
                                "quantity": 30,
                                "expiration_date": date.today() + timedelta(days=90),
                            }
                        ],
                    }
                ],
            },
            "seed",
        )
        return {"item": item.id}


def test_changing_an_item_from_batch_to_serial_explains_the_two_ways_out(
    page: Any, tx: Any, shot: Any
) -> None:
    ids = _beans(tx, "Arabica")
    page.goto("/items?q=Arabica")
    shot(page, "items-list")
    page.get_by_role("link", name="Arabica").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("batch tracking")
    shot(page, "item-card")
    page.get_by_label("Serial numbers").check()
    page.get_by_role("button", name="Change tracking").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("cannot switch from batch tracking to serial tracking")
    expect(alert).to_contain_text("set its tracking to none first")
    expect(alert).to_contain_text("create a new item")
    expect(page.get_by_role("list", name="Ways out")).to_be_visible()
    shot(page, "item-tracking-refused")
    page.goto(f"/items/{ids['item']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("batch tracking")


def test_turning_tracking_off_shows_what_happens_and_asks_first(
    page: Any, tx: Any, shot: Any
) -> None:
    ids = _beans(tx, "Robusta")
    page.goto(f"/items/{ids['item']}")
    page.get_by_label("None").check()
    page.get_by_role("button", name="Change tracking").click()
    expect(page.locator("#confirm")).to_contain_text("1 batch(es)")
    expect(page.locator("#confirm")).to_contain_text("CSV export")
    shot(page, "item-tracking-confirm")
    page.get_by_role("button", name="Yes, change to none").click()
    expect(page.get_by_role("status")).to_contain_text("Tracking setting changed")
    expect(page.get_by_role("heading", level=1)).to_contain_text("none tracking")
    expect(page.get_by_role("link", name="tracking-")).to_be_visible()


def test_stock_tabs_and_the_batch_and_serial_pages(page: Any, tx: Any, shot: Any) -> None:
    _beans(tx, "Liberica")
    with tx() as s:
        loc = catalog.save_location(s, None, {"name": "Grinder shelf"})
        grinder = catalog.create_item(
            s, "product", {"name": "Grinder", "tracking": "serial", "variants": [{"sku": "GR-1"}]}
        )
        adjustments.create(
            s,
            {
                "location_id": loc.id,
                "stock_adjustment_rows": [
                    {
                        "variant_id": grinder.variants[0].id,
                        "quantity": 3,
                        "serial_numbers": ["GR-001..GR-003"],
                    }
                ],
            },
            "seed",
        )
    page.goto("/stock?tab=batches&q=Liberica")
    expect(page.locator("#batches")).to_contain_text("Liberica-LOT1")
    shot(page, "stock-batches")
    page.get_by_role("link", name="Liberica-LOT1").click()
    expect(page.locator("#movements")).to_contain_text("adjustment")
    expect(page.locator("svg.trace")).to_be_visible()
    shot(page, "batch-page")
    page.goto("/stock?tab=serials")
    page.get_by_label("Search").fill("GR-002")
    page.keyboard.press("Enter")
    expect(page.locator("#serials tbody tr")).to_have_count(1)
    shot(page, "stock-serials")
    page.get_by_role("link", name="GR-002").click()
    expect(page.locator("#timeline")).to_contain_text("Grinder shelf")
    picture = page.locator("svg.trace")
    expect(picture).to_be_visible()
    expect(picture).to_have_attribute("aria-label", "Trace picture")
    serial_path = page.url.removeprefix(page.evaluate("location.origin"))
    expect(picture.locator(f"a[href='{serial_path}']")).to_contain_text("GR-002")
    shot(page, "serial-page")


def test_pages_read_well_at_tablet_portrait_width(page: Any, fits_a_tablet: Any, shot: Any) -> None:
    page.goto("/stock")
    fits_a_tablet(page)
    shot(page, "stock-tablet-portrait")

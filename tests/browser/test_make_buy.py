"""Make and Buy in a real browser (issue 7): receive a PO by paste and by batch with
expiry, then see the stock; create an MO, produce with the FEFO-proposed batch, a
scanned serial ingredient and generated output serials, then see the timeline."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tracelot.services import adjustments, catalog, manufacturing, purchasing

pytestmark = pytest.mark.browser
SOON = date.today() + timedelta(days=12)
LATER = date.today() + timedelta(days=90)
BOARD_GTIN = "09506000134376"


def _po(tx: Any) -> dict[str, Any]:
    with tx() as s:
        loc = catalog.save_location(s, None, {"name": "Dock 3"})
        sup = catalog.save_supplier(s, None, {"name": "Probe Supplies"})
        probe = catalog.create_item(
            s, "material", {"name": "Probe", "tracking": "serial", "variants": [{"sku": "PRB"}]}
        )
        gel = catalog.create_item(
            s, "material", {"name": "Gel", "tracking": "batch", "variants": [{"sku": "GEL"}]}
        )
        po = purchasing.create_order(
            s,
            {
                "supplier_id": sup.id,
                "location_id": loc.id,
                "purchase_order_rows": [
                    {"variant_id": probe.variants[0].id, "quantity": 5},
                    {"variant_id": gel.variants[0].id, "quantity": 12},
                ],
            },
            "seed",
        )
        return {
            "po": po.id,
            "po_no": po.order_no,
            "loc": loc.id,
            "probe": probe.variants[0].id,
        }


def test_receiving_a_po_with_pasted_serials_and_a_batch_shows_them_in_stock(
    page: Any, tx: Any, shot: Any
) -> None:
    ids = _po(tx)
    page.goto("/buy?q=Probe")
    shot(page, "buy-list")
    page.get_by_role("link", name=ids["po_no"]).click()
    serials = page.get_by_label("Serial numbers of PRB")
    serials.fill("PRB-101..PRB-103\nPRB-104\nPRB-105\n")
    expect(page.locator("[id^=count-]").first).to_have_text("5")
    page.get_by_label("Batch number of GEL").fill("GEL-7781")
    page.get_by_label("Expiry of GEL").fill(SOON.isoformat())
    shot(page, "po-receive")
    page.get_by_role("button", name="Receive", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("2 row(s) received")
    expect(page.locator("#po-status")).to_have_text("received")
    expect(page.locator("#receipts")).to_contain_text("GEL-7781")
    expect(page.locator("#receipts")).to_contain_text("5 serial number(s)")
    shot(page, "po-received")

    page.goto("/stock?tab=serials&q=PRB-10")
    expect(page.locator("#serials tbody tr")).to_have_count(5)
    expect(page.locator("#serials")).to_contain_text("Dock 3")
    page.goto("/stock?tab=batches&q=GEL-7781")
    row = page.locator("#batches tbody tr")
    expect(row).to_contain_text(SOON.isoformat())
    expect(row).to_contain_text("12")

    # a receipt whose units moved cannot be reverted: the page says why
    with tx() as s:
        adjustments.create(
            s,
            {
                "location_id": ids["loc"],
                "stock_adjustment_rows": [
                    {"variant_id": ids["probe"], "quantity": -1, "serial_numbers": ["PRB-102"]}
                ],
            },
            "seed",
        )
    page.goto(f"/buy/{ids['po']}")
    page.once("dialog", lambda d: d.accept())
    page.locator("#receipts tbody tr", has_text="PRB").get_by_role("button", name="Revert").click()
    expect(page.get_by_role("alert")).to_contain_text("cannot be reverted")
    expect(page.get_by_role("alert")).to_contain_text("PRB-102")
    shot(page, "po-revert-refused")
    _fits_a_tablet(page, shot, "po-tablet-portrait")


def _plant(tx: Any) -> None:
    """A serial lamp made of 0.5 of a batch oil and one serial board (with a GTIN)."""
    with tx() as s:
        loc = catalog.save_location(s, None, {"name": "Lamp workshop"})
        lamp = catalog.create_item(
            s,
            "product",
            {
                "name": "Oil lamp",
                "tracking": "serial",
                "serial_pattern": "LAMP-{seq:04}",
                "variants": [{"sku": "LAMP"}],
            },
        )
        oil = catalog.create_item(
            s, "material", {"name": "Lamp oil", "tracking": "batch", "variants": [{"sku": "OIL"}]}
        )
        board = catalog.create_item(
            s,
            "material",
            {
                "name": "Lamp board",
                "tracking": "serial",
                "variants": [{"sku": "LBRD", "gtin": BOARD_GTIN}],
            },
        )
        for ingredient, q in ((oil, "0.5"), (board, 1)):
            manufacturing.save_recipe_row(
                s,
                None,
                {
                    "product_variant_id": lamp.variants[0].id,
                    "ingredient_variant_id": ingredient.variants[0].id,
                    "quantity": q,
                },
            )
        adjustments.create(
            s,
            {
                "location_id": loc.id,
                "stock_adjustment_rows": [
                    {
                        "variant_id": oil.variants[0].id,
                        "quantity": 10,
                        "batch_transactions": [
                            {"batch_number": "OIL-LATE", "expiration_date": LATER, "quantity": 6},
                            {"batch_number": "OIL-SOON", "expiration_date": SOON, "quantity": 4},
                        ],
                    },
                    {
                        "variant_id": board.variants[0].id,
                        "quantity": 3,
                        "serial_numbers": ["LB-01..LB-03"],
                    },
                ],
            },
            "seed",
        )


def test_producing_with_fefo_batch_scanned_board_and_generated_serials(
    page: Any, tx: Any, shot: Any
) -> None:
    _plant(tx)
    page.goto("/make")
    page.get_by_text("New manufacturing order").click()
    page.get_by_label("Product (SKU)").fill("LAMP")
    page.get_by_label("Location").select_option(label="Lamp workshop")
    page.get_by_label("Planned quantity").fill("2")
    shot(page, "make-new")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("Manufacturing order created")
    expect(page.locator("#recipe")).to_contain_text("Lamp oil")
    shot(page, "mo-page")

    page.get_by_role("link", name="Record production…").click()
    dialog = page.locator("#produce")
    expect(dialog).to_be_visible()
    # FEFO: the earliest-expiring batch is proposed, with its expiry, and can be edited
    expect(dialog.get_by_label("Take from OIL-SOON")).to_have_value("1")
    expect(dialog.get_by_label("Take from OIL-LATE")).to_have_value("")
    expect(dialog).to_contain_text(SOON.isoformat())
    # the serial ingredient, in the shared picker: one by a GS1 scan, one by typing
    dialog.get_by_role("button", name="Choose or scan serial numbers…").click()
    picker = page.locator("#picker")
    expect(picker).to_be_visible()
    expect(page.locator("#picker-count")).to_have_text("0 of 2")
    page.locator("#picker-scan").fill(f"(01){BOARD_GTIN}(21)LB-02")
    page.keyboard.press("Enter")
    expect(page.locator("#picker-count")).to_have_text("1 of 2")
    page.locator("#picker-filter").fill("LB-03")
    expect(picker.get_by_role("checkbox")).to_have_count(2)
    picker.get_by_label("LB-03").check()
    expect(page.locator("#picker-count")).to_have_text("2 of 2")
    shot(page, "production-picker")
    page.locator("#picker-done").click()
    expect(picker).to_be_hidden()
    expect(dialog).to_contain_text("2 of 2 chosen: LB-02, LB-03")
    expect(dialog.get_by_label("Generate from the item's pattern")).to_be_checked()
    shot(page, "production-dialog")
    dialog.get_by_role("button", name="Record production").click()

    expect(page.get_by_role("status")).to_contain_text("Production recorded")
    expect(page.locator("#mo-status")).to_have_text("done")
    expect(page.locator("#productions")).to_contain_text("LAMP-0001")
    page.get_by_role("link", name="LAMP-0001").click()
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("produced")
    expect(timeline).to_contain_text("made from")
    expect(timeline).to_contain_text("OIL-SOON")
    expect(timeline).to_contain_text("LB-02")
    shot(page, "serial-page-produced")
    page.go_back()
    _fits_a_tablet(page, shot, "mo-tablet-portrait")


def _fits_a_tablet(page: Any, shot: Any, name: str) -> None:
    """Readable at tablet portrait width: no horizontal page scroll."""
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    shot(page, name)

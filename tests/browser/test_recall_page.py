"""Acceptance #1 (recall): a recall started from the batch page lists the right customers;
the Tracing issues list links each problem to its fix."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tracelot.services import adjustments, catalog, fulfillments, sales

pytestmark = pytest.mark.browser


def _deliver(s: Any, loc: int, customer: str, variant: int, batch_id: int, qty: int) -> None:
    cust = catalog.save_customer(s, None, {"name": customer, "email": f"{qty}@ex.example"})
    order = sales.create_order(
        s,
        {
            "customer_id": cust.id,
            "location_id": loc,
            "sales_order_rows": [{"variant_id": variant, "quantity": qty}],
        },
        "seed",
    )
    row = sales.live_rows(s, order.id)[0]
    sales.set_batch_picks(s, row, [{"batch_id": batch_id, "quantity": qty}], "seed")
    fulfillments.deliver(s, order, "seed")


def _download(page: Any, link: str, filename: str) -> bytes:
    """Click a download link; the file's bytes (never empty), named as expected."""
    with page.expect_download() as dl:
        page.get_by_role("link", name=link, exact=True).click()
    assert dl.value.suggested_filename == filename
    content = Path(dl.value.path()).read_bytes()
    assert content, f"{filename} is empty"
    return content


def test_a_recall_from_the_batch_page_lists_the_right_customers(
    page: Any, tx: Any, shot: Any
) -> None:
    from tracelot.db.models import Batch

    soon = date.today() + timedelta(days=10)
    with tx() as s:
        loc = catalog.save_location(s, None, {"name": "Recall store"})
        item = catalog.create_item(
            s,
            "product",
            {"name": "Honey jar", "tracking": "batch", "variants": [{"sku": "HONEY-1"}]},
        )
        vid = item.variants[0].id
        adjustments.create(
            s,
            {
                "location_id": loc.id,
                "stock_adjustment_rows": [
                    {
                        "variant_id": vid,
                        "quantity": 20,
                        "batch_transactions": [
                            {"batch_number": "HNY-BAD", "quantity": 10, "expiration_date": soon},
                            {"batch_number": "HNY-OK", "quantity": 10},
                        ],
                    }
                ],
            },
            "seed",
        )
    with tx() as s:
        bad = s.query(Batch).filter_by(batch_number="HNY-BAD").one().id
        ok = s.query(Batch).filter_by(batch_number="HNY-OK").one().id
        _deliver(s, loc.id, "Bee Bistro", vid, bad, 4)
        _deliver(s, loc.id, "Comb Corner", vid, bad, 3)
        _deliver(s, loc.id, "Safe Shop", vid, ok, 5)
    page.goto(f"/stock/batches/{bad}")
    expect(page.locator("#shipments")).to_contain_text("Bee Bistro")
    shot(page, "batch-page-shipped")
    page.get_by_role("link", name="Recall this batch").click()
    customers = page.locator("#customers")
    expect(customers).to_contain_text("Bee Bistro")
    expect(customers).to_contain_text("Comb Corner")
    expect(customers).not_to_contain_text("Safe Shop")
    expect(page.locator("#recall-summary")).to_contain_text("2 customer(s) received 7")
    expect(page.locator("#on-hand")).to_contain_text("3")
    expect(page.get_by_text("✓ balanced")).to_be_visible()
    shot(page, "recall")
    report = _download(page, "CSV", "recall.csv").decode("utf-8")
    assert "Bee Bistro" in report
    book = load_workbook(io.BytesIO(_download(page, "XLSX", "recall.xlsx")))
    cells = [str(c) for ws in book for row in ws.iter_rows(values_only=True) for c in row]
    assert "Bee Bistro" in cells
    epcis = json.loads(_download(page, "EPCIS 2.0", "recall-epcis.json"))
    assert epcis["type"] == "EPCISDocument" and epcis["epcisBody"]["eventList"]
    fsma = _download(page, "FSMA 204 CSV", "fsma204.csv").decode("utf-8")
    assert fsma.startswith("Traceability Lot Code (TLC),") and "HNY-BAD" in fsma
    assert "Shipping" in fsma
    fsma_sheet = load_workbook(io.BytesIO(_download(page, "FSMA 204 XLSX", "fsma204.xlsx")))
    assert {r[0] for r in fsma_sheet["FSMA 204"].iter_rows(min_row=2, values_only=True)} == {
        "HNY-BAD"
    }

    page.get_by_role("link", name="Tracing issues").click()
    page.get_by_role("link", name="Batches expiring within 30 days").click()
    expect(page.locator("#expiring")).to_contain_text("HNY-BAD")
    shot(page, "tracing-issues")
    page.locator("#expiring").get_by_role("link", name="Open batch").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Batch")

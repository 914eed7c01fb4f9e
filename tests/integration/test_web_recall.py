"""The Recall page's downloads over HTTP: the FDA FSMA 204 spreadsheet of the recalled lots
is the API's GET /v1/fsma204 for those lots' codes."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from support.trace_scenario import shipped_lot
from support.world import World


def test_the_recall_page_fsma_204_download_is_the_api_spreadsheet_of_the_recalled_lots(
    web: TestClient, app, token: str, sessions
) -> None:  # type: ignore[no-untyped-def]
    batch_id = shipped_lot(World(sessions).setup())
    page = web.get(f"/recall?batch={batch_id}")
    assert f'href="/recall/fsma204.csv?batch={batch_id}"' in page.text
    assert f'href="/recall/fsma204.xlsx?batch={batch_id}"' in page.text

    csv = web.get(f"/recall/fsma204.csv?batch={batch_id}")
    assert csv.headers["content-type"].startswith("text/csv")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as api:
        expected = api.get("/v1/fsma204", params={"lot": "JAM-7", "format": "csv"})
    assert csv.text == expected.text
    assert "Shipping" in csv.text and "Toast Café" in csv.text

    xlsx = web.get(f"/recall/fsma204.xlsx?batch={batch_id}")
    assert xlsx.headers["content-type"].endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(xlsx.content))["FSMA 204"]
    lots = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert lots == {"JAM-7"}


def test_an_fsma_204_download_without_lots_is_refused(web: TestClient) -> None:
    assert web.get("/recall/fsma204.csv").status_code == 400


def test_the_recall_page_links_the_first_lots_and_units_and_says_how_many_more(
    web: TestClient, sessions, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A lot reaching 100,000 units is not 100,000 links: the page links the first ones
    and says where every one of them is (the downloads' Affected sheet)."""
    page, csv = _page_and_csv(web, sessions, monkeypatch, "AFFECTED_SHOWN", 3)
    reached = page.split('id="reached"')[1].split("</p>")[0]
    assert "Lots/serials reached (9)" in reached and reached.count("<a href=") == 3
    assert "and 6 more (every one in the CSV and XLSX, sheet Affected)" in reached
    affected = csv.split("# Affected")[1].strip().splitlines()
    assert len(affected) == 1 + 9 and affected[0].startswith("level,kind,batch_number")


def test_the_recall_page_lists_the_first_customers_and_the_downloads_list_every_one(
    web: TestClient, sessions, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A lot shipped to 20,000 customers is not a 20,000-row page: the page lists the
    first ones and says where every one is (the downloads' Customers sheet)."""
    page, csv = _page_and_csv(web, sessions, monkeypatch, "CUSTOMERS_SHOWN", 2)
    rows = page.split('id="customers"')[1].split("</table>")[0]
    assert rows.count("<tr><td>") == 2 and "Alice" in rows and "Carol" not in rows
    assert "2 of 3 customers shown: every one in the CSV and XLSX, sheet Customers" in page
    customers = csv.split("# Customers")[1].split("# Shipments")[0].strip().splitlines()
    assert customers[0] == "customer,email,phone,ship_to,orders,quantity"
    assert [line.split(",")[0] for line in customers[1:]] == ["Alice", "Bob", "Carol"]
    assert customers[1].split(",")[-1] == "2"  # Alice's units


def _page_and_csv(web, sessions, monkeypatch, limit: str, shown: int):  # type: ignore[no-untyped-def]
    """The Recall page of the scenario's supplier lot with ``limit`` set to ``shown``,
    and the report's CSV."""
    from support.trace_scenario import build
    from tracelot.web.pages import recall as recall_page

    sc = build(World(sessions).setup())
    monkeypatch.setattr(recall_page, limit, shown)
    page = web.get(f"/recall?batch={sc.lot}")
    assert page.status_code == 200
    return page.text, web.get(f"/recall/report.csv?batch={sc.lot}").text

"""FSMA 204 sortable spreadsheet: the CTE rows of the three-level scenario, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import date

from openpyxl import load_workbook

from support.trace_scenario import build
from support.world import World
from tracelot.services import catalog, manufacturing
from tracelot.standards import fsma204

TLC, CTE, QTY = "Traceability Lot Code (TLC)", "Critical Tracking Event (CTE)", "Quantity"
RECIPIENT = "Immediate Subsequent Recipient Location Description"
SOURCE = "Immediate Previous Source Location Description"


def _by_cte(rows, cte):
    return [r for r in rows if r[CTE] == cte]


def test_the_supplier_lot_sheet_has_its_receipt_transformations_and_shipments(sessions):
    w = World(sessions).setup()
    build(w)
    with w.tx() as s:
        rows = fsma204.rows(s, lots=["SUP-LOT-7"])
    (rec,) = _by_cte(rows, "Receiving")
    assert (rec[TLC], rec["Internal Lot or Serial Number"], rec[QTY]) == (
        "ACME-991",
        "SUP-LOT-7",
        10,
    )
    assert rec[SOURCE] == "ACME Resins; 1 Mill Rd, Springfield; phone +1 555 0100"
    assert rec["Traceability Lot Code Source Location Description"] == rec[SOURCE]
    assert (rec["Reference Document Type"], rec["Reference Document Number"]) == (
        "Purchase Order",
        "PO-1",
    )
    assert rec["Location Description"] == "Main" and rec["Unit of Measure"] == "pcs"
    assert rec["Product Description"] == "Resin (RESIN)"
    made = _by_cte(rows, "Transformation")
    outputs = {
        r[TLC]: r["Input Traceability Lot Codes"] for r in made if r["Input Traceability Lot Codes"]
    }
    assert outputs == {
        "SUB-1": "ACME-991",
        "SUB-2": "ACME-991",
        "SUB-3": "ACME-991",
        "SUB-4": "ACME-991",
        "FIN-1": "SUB-1",
        "FIN-2": "SUB-2",
        "FIN-3": "SUB-3",
        "FIN-4": "SUB-4",
    }
    used = sorted(
        (r[TLC], r[QTY], r["New Traceability Lot Codes"])
        for r in made
        if r["New Traceability Lot Codes"]
    )
    assert used[:4] == [("ACME-991", 2, f"SUB-{n}") for n in range(1, 5)]
    assert all(r["Reference Document Type"] == "Manufacturing Order" for r in made)
    shipped = sorted((r[TLC], r[RECIPIENT].split(";")[0]) for r in _by_cte(rows, "Shipping"))
    assert shipped == [
        ("FIN-1", "Alice"),
        ("FIN-2", "Alice"),
        ("FIN-3", "Bob"),
        ("FIN-4", "Carol"),
    ]  # Dave's unit came from the other lot
    ship = _by_cte(rows, "Shipping")[0]
    assert ship[RECIPIENT] == "Alice; Alice St 1, Metropolis; phone +1 555 0199"
    assert ship["Traceability Lot Code Source Location Description"] == "Main"
    assert ship["Reference Document Type"] == "Sales Order"
    assert ship["Reference Document Number"].startswith("SO-")
    assert len(rows) == 1 + 8 + 8 + 4
    assert [r[TLC] for r in rows] == sorted(r[TLC] for r in rows)


def test_the_supplier_lot_code_finds_the_same_rows(sessions):
    w = World(sessions).setup()
    build(w)
    with w.tx() as s:
        assert fsma204.rows(s, lots=["ACME-991"]) == fsma204.rows(s, lots=["SUP-LOT-7"])


def test_a_product_and_date_range_lists_every_event_of_that_product(sessions):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        rows = fsma204.rows(s, variant_id=sc.gadget)
        later = fsma204.rows(s, variant_id=sc.gadget, start=_dt("2999-01-01"))
        until_now = fsma204.rows(s, variant_id=sc.gadget, end=_dt("2999-01-01"))
    assert sorted(r[TLC] for r in _by_cte(rows, "Shipping")) == [f"FIN-{n}" for n in range(1, 6)]
    assert sorted(r[TLC] for r in _by_cte(rows, "Transformation")) == [
        f"FIN-{n}" for n in range(1, 6)
    ]
    assert {r["SKU"] for r in rows} == {"GADGET"}
    assert later == [] and until_now == rows


def test_own_production_without_traced_inputs_is_initial_packing_with_full_descriptions(
    sessions,
):
    w = World(sessions).setup()
    _, (v,) = w.item("Jam", "serial")
    with w.tx() as s:
        catalog.save_location(
            s,
            s.get(catalog.Location, w.location_id),
            {
                "legal_name": "Berry Farm Ltd",
                "line_1": "2 Orchard Way",
                "city": "Dale",
                "phone": "+44 1000",
                "gln": "0614141000005",
            },
        )
        mo = manufacturing.create_order(
            s, {"variant_id": v, "planned_quantity": 1, "location_id": w.location_id}, "t"
        )
        (sid,) = manufacturing.link_serials(s, mo.id, ["JAM-1"], "t")
        manufacturing.produce(
            s,
            {"manufacturing_order_id": mo.id, "completed_quantity": 1, "serial_numbers": [sid]},
            "t",
        )
        (row,) = fsma204.rows(s, lots=["JAM-1"])
    assert row[CTE] == "Initial Packing" and row[TLC] == "JAM-1"
    place = "Berry Farm Ltd - Main; 2 Orchard Way, Dale; phone +44 1000; GLN 0614141000005"
    assert row["Location Description"] == place
    assert row["Traceability Lot Code Source Location Description"] == place
    assert row["Traceability Lot Code Source Reference"] == "0614141000005"


def test_csv_and_xlsx_read_back_with_a_sortable_header(sessions):
    w = World(sessions).setup()
    build(w)
    with w.tx() as s:
        rows = fsma204.rows(s, lots=["SUP-LOT-7"])
    parsed = list(csv.reader(io.StringIO(fsma204.to_csv(rows))))
    assert parsed[0] == fsma204.COLUMNS and len(parsed) == len(rows) + 1
    assert parsed[1][:2] == ["ACME-991", "Receiving"] and parsed[1][5] == "10"
    ws = load_workbook(io.BytesIO(fsma204.to_xlsx(rows)))["FSMA 204"]
    assert [c.value for c in ws[1]] == fsma204.COLUMNS
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == f"A1:S{len(rows) + 1}"
    assert ws["A2"].value == "ACME-991" and ws["F2"].value == 10
    assert ws["C2"].value.date() == date.fromisoformat(rows[0]["Event Date"])
    assert ws.max_row == len(rows) + 1


def test_fsma204_endpoint_serves_csv_xlsx_and_refuses_unknown_lots(client, sessions):
    w = World(sessions).setup()
    sc = build(w)
    r = client.get("/v1/fsma204", params={"lot": "SUP-LOT-7"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0].startswith("Traceability Lot Code (TLC),")
    r = client.get(
        "/v1/fsma204",
        params={"lot": ["SUP-LOT-7"], "format": "xlsx", "from": "2000-01-01", "to": "2999-12-31"},
    )
    assert r.status_code == 200, r.text
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.max_row == 22
    r = client.get("/v1/fsma204", params={"variant_id": sc.gadget, "format": "json"})
    assert {row["Critical Tracking Event (CTE)"] for row in r.json()["data"]} == {
        "Transformation",
        "Shipping",
    }
    r = client.get("/v1/fsma204", params={"lot": "NOPE"})
    assert r.status_code == 422 and r.json()["code"] == "MISSING"
    assert client.get("/v1/fsma204", params={"sku": "x"}).json()["code"] == "UNSUPPORTED_FILTER"


def _dt(text):
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_fsma204_cli_writes_csv_and_xlsx(sessions, db_url, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from tracelot.cli import app
    from tracelot.settings import get_settings

    w = World(sessions).setup()
    build(w)
    monkeypatch.setenv("TRACELOT_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["fsma204", "SUP-LOT-7", "--to", "2999-12-31"])
        assert result.exit_code == 0, result.output
        assert result.stdout.count("\n") == 22 and "Alice" in result.stdout
        out = tmp_path / "f.xlsx"
        result = CliRunner().invoke(app, ["fsma204", "--format", "xlsx", "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert (
            load_workbook(out)["FSMA 204"].max_row == 1 + 2 + 10 + 10 + 5
        )  # header, receipts, made, used, shipped
        assert CliRunner().invoke(app, ["fsma204", "NOPE"]).exit_code == 1
    finally:
        get_settings.cache_clear()

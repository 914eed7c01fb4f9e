"""Acceptance #2: the recall report's mass balance adds up; nothing shipped is said."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from support.trace_scenario import build
from support.world import World
from tracelot.services import recall


def test_recall_of_the_supplier_lot_balances_at_every_level(sessions):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        r = recall.report(s, batch_ids=[sc.lot])
    assert r["balanced"] and not r["nothing_shipped"]
    lot = next(b for b in r["mass_balance"] if b["kind"] == "batch")
    assert (lot["received_or_produced"], lot["consumed"], lot["shipped"], lot["on_hand"]) == (
        10,
        8,
        0,
        2,
    )
    fins = next(b for b in r["mass_balance"] if b["name"] == "GADGET")
    assert (fins["received_or_produced"], fins["shipped"], fins["on_hand"]) == (4, 4, 0)
    assert sorted((c["customer"], c["quantity"]) for c in r["customers"]) == [
        ("Alice", 2),
        ("Bob", 1),
        ("Carol", 1),
    ]
    assert all(c["email"] and c["ship_to"] and c["orders"] for c in r["customers"])
    assert [
        (o["batch_number"], o["serial_numbers"], o["quantity"], o["location"]) for o in r["on_hand"]
    ] == [("SUP-LOT-7", [], 2, "Main")]
    assert r["elapsed_ms"] >= 0


def test_recall_of_a_lot_with_nothing_shipped_says_so(sessions):
    w = World(sessions).setup()
    _, (v,) = w.item("Salt", "batch", "material")
    w.adjust(
        [
            {
                "variant_id": v,
                "quantity": 3,
                "batch_transactions": [{"batch_number": "S1", "quantity": 3}],
            }
        ]
    )
    w.adjust(
        [{"variant_id": v, "quantity": -1, "batch_transactions": [{"batch_id": 1, "quantity": 1}]}]
    )
    with w.tx() as s:
        r = recall.report(s, batch_ids=[1])
        sheets = recall.tables(s, r)
    assert r["nothing_shipped"] and r["customers"] == []
    assert "Nothing" in r["summary"] and "no customer is affected" in r["summary"]
    (b,) = r["mass_balance"]
    assert (b["received_or_produced"], b["adjusted_out"], b["on_hand"], b["balanced"]) == (
        3,
        1,
        2,
        True,
    )
    assert "no customer is affected" in recall.to_csv(sheets)
    wb = load_workbook(io.BytesIO(recall.to_xlsx(sheets)))
    assert wb.sheetnames == ["Summary", "Shipments", "On hand", "Mass balance"]
    assert wb["On hand"]["E2"].value == 2


def test_recall_endpoint_in_three_formats(client, sessions):
    w = World(sessions).setup()
    sc = build(w)
    r = client.get("/v1/recall", params={"batch_id": sc.lot})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["balanced"] is True and body["nothing_shipped"] is False
    assert sorted(s["order_no"] for s in body["shipments"]) == ["SO-1", "SO-2", "SO-3"]
    csv_text = client.get("/v1/recall", params={"batch_id": sc.lot, "format": "csv"}).text
    assert "FIN-1 FIN-2" in csv_text and "# Mass balance" in csv_text
    x = client.get("/v1/recall", params={"batch_id": sc.lot, "format": "xlsx"})
    assert load_workbook(io.BytesIO(x.content))["Shipments"].max_row == 4


def test_recall_cli_prints_csv_for_batch_numbers(sessions, db_url, monkeypatch):
    from typer.testing import CliRunner

    from tracelot.cli import app

    w = World(sessions).setup()
    build(w)
    monkeypatch.setenv("TRACELOT_DATABASE_URL", db_url)
    from tracelot.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["recall", "SUP-LOT-7"])
    assert result.exit_code == 0, result.output
    assert "SO-1" in result.stdout
    bad = CliRunner().invoke(app, ["recall", "NOPE"])
    assert bad.exit_code == 1
    get_settings.cache_clear()

"""Acceptance #2: the recall report's mass balance adds up; nothing shipped is said."""

from __future__ import annotations

import gc
import io

from openpyxl import load_workbook

from support.trace_scenario import _produce, _sell, build, shipped_lot
from support.world import World
from tracelot.services import recall, tracing

ORDER_KEYS = (
    "document",
    "order_no",
    "document_type",
    "document_id",
    "sales_order_id",
    "fulfillment_id",
    "customer_id",
    "delivered_date",
    "customer",
    "customer_email",
    "ship_to",
)


def test_a_shipment_line_names_its_order_and_customer_as_the_serials_history_does(sessions):
    """The recall's and a trace page's lines read their orders apart from ``describe``
    (one dict a line for a recall's 100,000s): the same order, customer and ship-to."""
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        lines = recall.report(s, batch_ids=[sc.lot])["shipments"]
        paged = tracing.trace(s, [tracing.Node(batch_id=sc.lot)], "forward").events
        for line in lines + paged:
            number = line["serial_numbers"][0]
            serial = tracing.find_serial(s, serial_number=number)
            steps = tracing.serial_history(s, serial)["steps"]
            shipped = next(st for st in steps if st["event"] == "shipped")
            assert {k: line.get(k) for k in ORDER_KEYS} == {k: shipped.get(k) for k in ORDER_KEYS}
            assert line["customer_email"] and line["ship_to"] and line["delivered_date"]
    assert len(lines) == len(paged) == 3


def test_a_lots_shipment_line_holds_nothing_the_garbage_collector_tracks(sessions):
    """A recall's 100,000 lot lines were 200,000 objects for the cyclic collector to walk
    (the line and its empty list of serials): a tenth of a second after each report."""
    batch_id = shipped_lot(World(sessions).setup())
    with World(sessions).tx() as s:
        (line,) = recall.report(s, batch_ids=[batch_id])["shipments"]
        (paged,) = tracing.trace(s, [tracing.Node(batch_id=batch_id)], "forward").events
    assert line["batch_id"] == paged["batch_id"] == batch_id and line["quantity"] == 4
    assert list(line["serial_numbers"]) == list(paged["serial_numbers"]) == []
    assert not gc.is_tracked(line) and not gc.is_tracked(paged)


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
    assert wb.sheetnames == [
        "Summary",
        "Customers",
        "Shipments",
        "On hand",
        "Mass balance",
        "Affected",
    ]
    assert [c.value for c in wb["Affected"]["A"]] == ["level", 0]  # the lot, every unit below
    assert wb["On hand"]["E2"].value == 2


def test_recall_endpoint_in_three_formats(client, sessions):
    w = World(sessions).setup()
    sc = build(w)
    r = client.get("/v1/recall", params={"batch_id": sc.lot})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["balanced"] is True and body["nothing_shipped"] is False
    assert sorted(s["order_no"] for s in body["shipments"]) == ["SO-1", "SO-2", "SO-3"]
    assert b"null" not in r.content  # unknown values are left out, as everywhere in the API
    assert body["shipments"][0]["date"].endswith("Z") and body["shipments"][0]["quantity"].isdigit()
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


def test_recall_flags_a_lot_whose_units_left_outside_the_mass_balance(sessions):
    """A transfer still in transit took units out of stock without consuming, shipping or
    adjusting them: the spec's balance does not hold, and the report names the lot."""
    from tracelot.services import transfers

    w = World(sessions).setup()
    annex = w.location("Annex")
    _, (v,) = w.item("Salt", "batch", "material")
    w.adjust(
        [
            {
                "variant_id": v,
                "quantity": 10,
                "batch_transactions": [{"batch_number": "S-9", "quantity": 10}],
            }
        ]
    )
    with w.tx() as s:
        tr = transfers.create(
            s,
            {
                "source_location_id": w.location_id,
                "target_location_id": annex,
                "stock_transfer_rows": [
                    {
                        "variant_id": v,
                        "quantity": 3,
                        "batch_transactions": [{"batch_id": 1, "quantity": 3}],
                    }
                ],
            },
            "test",
        )
        transfers.set_status(s, tr, "inTransit", "test")
    with w.tx() as s:
        r = recall.report(s, batch_ids=[1])
    (b,) = r["mass_balance"]
    assert (b["received_or_produced"], b["on_hand"], b["other_out"]) == (10, 7, 3)
    assert b["balanced"] is False and r["balanced"] is False
    (warning,) = r["warnings"]
    assert "S-9" in warning and "3" in warning


def test_recall_of_a_lot_and_a_serial_it_reached_counts_each_unit_once(sessions):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        lot_only = recall.report(s, batch_ids=[sc.lot])
        both = recall.report(s, batch_ids=[sc.lot], serial_ids=[sc.finals["FIN-1"]])
    assert both["customers"] == lot_only["customers"]
    assert both["mass_balance"] == lot_only["mass_balance"] and both["balanced"]
    assert sum(e["quantity"] for e in both["shipments"]) == 4


def test_recall_of_two_lots_that_reach_the_same_unit_counts_it_once(sessions):
    """FIN-9 is made from a board that took resin from both lots: one unit, one customer."""
    w = World(sessions).setup()
    sc = build(w)
    sub = _produce(
        w,
        sc.board,
        "SUB-9",
        sc.resin,
        [{"batch_id": sc.lot, "quantity": 1}, {"batch_id": sc.other_lot, "quantity": 1}],
        2,
    )
    fin = _produce(w, sc.gadget, "FIN-9", sc.board, [{"serial_number_id": sub}], 1)
    _sell(w, sc.gadget, "Erin", [fin])
    with w.tx() as s:
        r = recall.report(s, batch_ids=[sc.lot, sc.other_lot])
    assert sorted((c["customer"], c["quantity"]) for c in r["customers"]) == [
        ("Alice", 2),
        ("Bob", 1),
        ("Carol", 1),
        ("Dave", 1),
        ("Erin", 1),
    ]
    lots = {b["name"]: b for b in r["mass_balance"] if b["kind"] == "batch"}
    assert sorted(lots) == ["SUP-LOT-7", "SUP-LOT-8"]
    assert (lots["SUP-LOT-7"]["consumed"], lots["SUP-LOT-8"]["consumed"]) == (9, 3)
    gadgets = next(b for b in r["mass_balance"] if b["name"] == "GADGET")
    assert (gadgets["received_or_produced"], gadgets["shipped"]) == (6, 6)
    assert r["balanced"] and "5 customer(s) received 6" in r["summary"]


def test_large_id_sets_read_through_temporary_tables_give_the_same_report(sessions, monkeypatch):
    """PostgreSQL names a large trace's ids by a temporary table (``ids_in``): forced for
    every set here, the recall and the trace read exactly what the arrays read, and the
    tables are gone with the transaction. On SQLite both runs take the JSON form. Read
    in a read session, as the API and the command line read them (a READ ONLY
    transaction on PostgreSQL refused to create the tables)."""
    from tracelot.db.engine import make_sessionmaker, transaction
    from tracelot.services import tracing
    from tracelot.services import tracing_context as ctx

    w = World(sessions).setup()
    sc = build(w)
    reads = make_sessionmaker(sessions.kw["bind"], read_only=True)

    def read() -> tuple[dict, dict]:
        with transaction(reads) as s:
            r = recall.report(s, batch_ids=[sc.lot])
            t = tracing.trace(s, [tracing.Node(batch_id=sc.lot)], "forward")
            names = (
                set(s.connection().dialect.get_temp_table_names(s.connection()))
                if s.get_bind().dialect.name == "postgresql"
                else set()
            )
        r.pop("generated_at"), r.pop("elapsed_ms")
        return r, {"events": t.events, "totals": t.totals, "tables": sorted(names)}

    plain = read()
    monkeypatch.setattr(ctx, "MANY_IDS", 0)
    as_tables = read()
    assert as_tables[0] == plain[0]
    assert as_tables[1]["events"] == plain[1]["events"]
    assert as_tables[1]["totals"] == plain[1]["totals"]
    if sessions.kw["bind"].dialect.name == "postgresql":
        assert as_tables[1]["tables"] and not plain[1]["tables"]
        with w.tx() as s:  # dropped at commit: the next transaction starts without them
            assert not s.connection().dialect.get_temp_table_names(s.connection())


def _nones(v: object, path: str = "report") -> list[str]:
    if isinstance(v, dict):
        return [
            p
            for k, x in v.items()
            for p in ([f"{path}.{k}"] if x is None else _nones(x, f"{path}.{k}"))
        ]
    if isinstance(v, list):
        return [p for i, x in enumerate(v) for p in _nones(x, f"{path}[{i}]")]
    return []


def test_the_recall_report_holds_no_unknown_values_so_its_json_is_encoded_as_it_is(sessions):
    """Customers without e-mail or ship-to, serial lines without a lot, delivered units
    without a place: each left out, never None (the API encodes the report unwalked)."""
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        r = recall.report(s, batch_ids=[sc.lot])
    assert _nones(r) == []
    assert any("batch_id" not in e for e in r["shipments"])  # the serial lines
    assert any(n["kind"] == "serial" and "location_id" not in n for n in r["affected"])


def test_an_id_table_made_in_a_rolled_back_savepoint_is_made_again(sessions, monkeypatch):
    """PostgreSQL drops a temporary table with the SAVEPOINT that made it: the next read
    of the same ids makes it again instead of naming a table that is gone."""
    from sqlalchemy import select

    from tracelot.db.models import Serial
    from tracelot.services import tracing_context as ctx

    w = World(sessions).setup()
    build(w)
    monkeypatch.setattr(ctx, "MANY_IDS", 0)
    with w.tx() as s:
        ids = list(s.scalars(select(Serial.id)))
        savepoint = s.begin_nested()
        inside = s.scalars(select(Serial.id).where(ctx.ids_in(s, Serial.id, ids))).all()
        savepoint.rollback()
        after = s.scalars(select(Serial.id).where(ctx.ids_in(s, Serial.id, ids))).all()
    assert sorted(inside) == sorted(after) == sorted(ids) and ids

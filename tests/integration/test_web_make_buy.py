"""The Make and Buy pages over HTTP (in-process), on SQLite and PostgreSQL (issue 7)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from support.web import csrf as _csrf
from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.engine import transaction
from tracelot.db.models import (
    Batch,
    Genealogy,
    Item,
    ManufacturingOrder,
    ManufacturingOrderRecipeRow,
    PurchaseOrderRow,
    PurchaseReceipt,
    Serial,
)
from tracelot.services import catalog, manufacturing, purchasing

SOON = date.today() + timedelta(days=10)
LATER = date.today() + timedelta(days=60)
GTIN = "09506000134352"


def _token(web: TestClient, url: str = "/make") -> str:
    return _csrf(web.get(url).text)


# -- Buy -----------------------------------------------------------------------------------


def _po(w: World) -> dict[str, int]:
    _, (sensor,) = w.item("Sensor", "serial", kind="material")
    _, (resin,) = w.item("Resin", "batch", kind="material")
    with w.tx() as s:
        sensor_item = s.scalar(select(Item).where(Item.name == "Sensor"))
        sensor_item.serial_pattern = "S-{seq:04}"
        sensor_item.variants[0].gtin = GTIN
        sup = catalog.save_supplier(s, None, {"name": "Acme Parts"})
        po = purchasing.create_order(
            s,
            {
                "supplier_id": sup.id,
                "location_id": w.location_id,
                "purchase_order_rows": [
                    {"variant_id": sensor, "quantity": 6},
                    {"variant_id": resin, "quantity": 30},
                ],
            },
            "test",
        )
        rows = purchasing.order_rows(s, po.id)
        return {"po": po.id, "serial_row": rows[0].id, "batch_row": rows[1].id, "sensor": sensor}


def test_the_buy_list_and_po_page_show_orders_and_rows(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    ids = _po(w)
    listing = web.get("/buy?status=NOT_RECEIVED")
    assert listing.status_code == 200 and "Acme Parts" in listing.text
    assert f'href="/buy/{ids["po"]}"' in listing.text
    po = web.get(f"/buy/{ids['po']}")
    assert "Sensor" in po.text and "Resin" in po.text and "S-{seq:04}" in po.text
    assert f'name="serials_{ids["serial_row"]}"' in po.text
    assert f'name="bn_{ids["batch_row"]}"' in po.text


def test_receiving_pasted_serials_and_a_batch_with_expiry_puts_them_in_stock(
    web: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    ids = _po(w)
    pasted = f"SN-001..SN-004\r\nSN-005\n(01){GTIN}(21)SN-006\n"
    r = web.post(
        f"/buy/{ids['po']}/receive",
        data={
            "csrf_token": _token(web),
            f"serials_{ids['serial_row']}": pasted,
            f"bn_{ids['batch_row']}": ["LOT-A", "LOT-B"],
            f"exp_{ids['batch_row']}": [SOON.isoformat(), LATER.isoformat()],
            f"lot_{ids['batch_row']}": ["SUP-9", ""],
            f"bq_{ids['batch_row']}": ["10", "20"],
        },
    )
    assert r.status_code == 200 and "2 row(s) received" in r.text
    assert "LOT-A" in r.text and "6 serial number(s)" in r.text
    with transaction(sessions) as s:
        numbers = set(s.scalars(select(Serial.serial_number).where(Serial.status == "in_stock")))
        assert numbers == {f"SN-00{i}" for i in range(1, 7)}
        lot_a = s.scalar(select(Batch).where(Batch.batch_number == "LOT-A"))
        assert lot_a.expiration_date == SOON and lot_a.supplier_lot == "SUP-9"
        check_ledger(s)
    stock = web.get("/stock?tab=batches&q=LOT-")
    assert "LOT-A" in stock.text and "LOT-B" in stock.text and SOON.isoformat() in stock.text
    assert "SN-006" in web.get("/stock?tab=serials&q=SN-00").text


def test_generating_serials_from_the_pattern_on_receipt(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    ids = _po(w)
    r = web.post(
        f"/buy/{ids['po']}/receive",
        data={
            "csrf_token": _token(web),
            f"qty_{ids['serial_row']}": "3",
            f"gen_{ids['serial_row']}": "yes",
        },
    )
    assert "1 row(s) received" in r.text
    with transaction(sessions) as s:
        assert sorted(s.scalars(select(Serial.serial_number))) == ["S-0001", "S-0002", "S-0003"]


def test_a_refused_receipt_shows_why_and_changes_nothing(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    ids = _po(w)
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    r = web.post(
        f"/buy/{ids['po']}/receive",
        data={
            "csrf_token": _token(web),
            f"serials_{ids['serial_row']}": "X-1\nX-2",
            f"bn_{ids['batch_row']}": ["LOT-A"],
            f"bq_{ids['batch_row']}": ["40"],
        },
    )
    assert r.status_code == 200 and 'role="alert"' in r.text
    assert "cannot receive 40 more" in r.text
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before


def test_reverting_a_receipt_and_the_refusal_once_units_moved(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    ids = _po(w)
    token = _token(web)
    web.post(
        f"/buy/{ids['po']}/receive",
        data={"csrf_token": token, f"serials_{ids['serial_row']}": "R-1\nR-2"},
    )
    web.post(
        f"/buy/{ids['po']}/receive",
        data={
            "csrf_token": token,
            f"bn_{ids['batch_row']}": ["L1"],
            f"qty_{ids['batch_row']}": "5",
        },
    )
    with transaction(sessions) as s:
        serial_receipt, batch_receipt = s.scalars(
            select(PurchaseReceipt.id).order_by(PurchaseReceipt.id)
        ).all()
    w.adjust([{"variant_id": ids["sensor"], "quantity": -1, "serial_numbers": ["R-1"]}])
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    refused = web.post(f"/buy/receipts/{serial_receipt}/revert", data={"csrf_token": token})
    assert refused.status_code == 200 and "cannot be reverted" in refused.text
    assert "R-1" in refused.text
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before
    done = web.post(f"/buy/receipts/{batch_receipt}/revert", data={"csrf_token": token})
    assert f"Receipt {batch_receipt} reverted" in done.text and "reverted " in done.text
    with transaction(sessions) as s:
        assert s.get(PurchaseOrderRow, ids["batch_row"]).received_quantity == 0
        check_ledger(s)


# -- Make ----------------------------------------------------------------------------------


def _plant(w: World) -> dict[str, int]:
    """A serial product made of 2 of a batch material and 1 serial board per unit."""
    _, (widget,) = w.item("Widget", "serial", skus=("WID-1",))
    _, (resin,) = w.item("Resin", "batch", kind="material")
    _, (board,) = w.item("Board", "serial", kind="material")
    with w.tx() as s:
        s.scalar(select(Item).where(Item.name == "Widget")).serial_pattern = "W-{seq:03}"
        s.scalar(select(Item).where(Item.name == "Board")).variants[0].gtin = GTIN
        for ingredient, q in ((resin, 2), (board, 1)):
            manufacturing.save_recipe_row(
                s,
                None,
                {"product_variant_id": widget, "ingredient_variant_id": ingredient, "quantity": q},
            )
    w.adjust(
        [
            {
                "variant_id": resin,
                "quantity": 10,
                "batch_transactions": [
                    {"batch_number": "LATE", "expiration_date": LATER, "quantity": 6},
                    {"batch_number": "EARLY", "expiration_date": SOON, "quantity": 4},
                ],
            },
            {"variant_id": board, "quantity": 4, "serial_numbers": ["B-1..B-4"]},
        ]
    )
    with w.tx() as s:
        found = {b.batch_number: b.id for b in s.scalars(select(Batch))}
        boards = dict(s.execute(select(Serial.serial_number, Serial.id)).all())
    return {"widget": widget, "resin": resin, "board": board, **found, **boards}


def _create_mo(web: TestClient, w: World, qty: int = 2) -> int:
    r = web.post(
        "/make",
        data={
            "csrf_token": _token(web),
            "sku": "WID-1",
            "location_id": str(w.location_id),
            "planned_quantity": str(qty),
            "production_deadline_date": SOON.isoformat(),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return int(r.headers["location"].split("/")[2].split("?")[0])


def _rows(sessions, mo_id: int) -> dict[int, int]:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        return {
            r.variant_id: r.id
            for r in s.scalars(
                select(ManufacturingOrderRecipeRow).where(
                    ManufacturingOrderRecipeRow.manufacturing_order_id == mo_id
                )
            )
        }


def test_creating_an_mo_lists_it_with_its_recipe_rows(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    _plant(w)
    mo_id = _create_mo(web, w)
    listing = web.get("/make?q=Widget")
    assert f'href="/make/{mo_id}"' in listing.text and SOON.isoformat() in listing.text
    page = web.get(f"/make/{mo_id}")
    assert "Resin" in page.text and "Board" in page.text and "0 of 2" in page.text
    # the dialog proposes the earliest-expiring batch first, with its expiry
    early = page.text.index("EARLY")
    assert early < page.text.index("LATE") and SOON.isoformat() in page.text
    assert re.search(r'name="take_\d+" [^>]*value="4"', page.text)


def test_creating_an_mo_for_an_unknown_sku_is_refused_on_the_page(
    web: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    World(sessions).setup()
    r = web.post(
        "/make",
        data={
            "csrf_token": _token(web),
            "sku": "NOPE",
            "location_id": "1",
            "planned_quantity": "1",
        },
    )
    assert r.status_code == 200 and "No item variant has the SKU" in r.text and "NOPE" in r.text


def test_producing_with_fefo_batches_a_scanned_serial_and_generated_output(
    web: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    p = _plant(w)
    mo_id = _create_mo(web, w)
    rows = _rows(sessions, mo_id)
    found = web.get(f"/make/rows/{rows[p['board']]}/serials?scan=(01){GTIN}(21)B-3").json()
    assert found["scanned"] == "B-3" and [s["number"] for s in found["free"]] == ["B-3"]
    label = web.get(f"/make/rows/{rows[p['board']]}/serials?scan=B-2").json()  # plain label
    assert label["scanned"] == "B-2" and [s["number"] for s in label["free"]] == ["B-2"]
    typed = web.get(f"/make/rows/{rows[p['board']]}/serials?q=B-").json()
    assert [s["number"] for s in typed["free"]] == ["B-1", "B-2", "B-3", "B-4"]
    r = web.post(
        f"/make/{mo_id}/produce",
        data={
            "csrf_token": _token(web),
            "completed_quantity": "2",
            f"batch_{rows[p['resin']]}": [str(p["EARLY"]), str(p["LATE"])],
            f"take_{rows[p['resin']]}": ["4", ""],
            f"serial_{rows[p['board']]}": [str(p["B-3"]), str(p["B-1"])],
            "output": "generate",
        },
    )
    assert r.status_code == 200 and "Production recorded" in r.text
    assert "W-001" in r.text and "W-002" in r.text
    with transaction(sessions) as s:
        assert s.get(ManufacturingOrder, mo_id).status == "DONE"
        w1 = s.scalar(select(Serial).where(Serial.serial_number == "W-001"))
        inputs = s.execute(
            select(Genealogy.input_batch_id, Genealogy.input_serial_id).where(
                Genealogy.output_serial_id == w1.id
            )
        ).all()
        assert (p["EARLY"], None) in inputs and (None, p["B-3"]) in inputs
        check_ledger(s)
    serial_page = web.get(f"/stock/serials/{w1.id}")
    timeline = serial_page.text.split('id="timeline"')[1].split("</ol>")[0]
    assert "produced" in timeline and "made from" in timeline and "EARLY" in timeline
    assert "B-3" in timeline


def test_entered_output_serials_with_a_range_and_a_batch_ingredient_refusal(
    web: TestClient, sessions
) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    p = _plant(w)
    mo_id = _create_mo(web, w)
    rows = _rows(sessions, mo_id)
    base = {
        "csrf_token": _token(web),
        "completed_quantity": "2",
        f"serial_{rows[p['board']]}": [str(p["B-1"]), str(p["B-2"])],
        "output": "enter",
        "output_serials": "OUT-01..OUT-02",
    }
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    short = web.post(
        f"/make/{mo_id}/produce",
        data={
            **base,
            f"batch_{rows[p['resin']]}": [str(p["EARLY"])],
            f"take_{rows[p['resin']]}": ["1"],
        },
    )
    assert 'role="alert"' in short.text and "add up to 1 but the production needs 4" in short.text
    assert "data-open" in short.text and 'id="produce-error"' in short.text  # dialog again
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before
    ok = web.post(f"/make/{mo_id}/produce", data=base)  # no batch named: FEFO
    assert "Production recorded" in ok.text and "OUT-01" in ok.text and "OUT-02" in ok.text


def test_the_dialog_plan_follows_the_quantity(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    _plant(w)
    mo_id = _create_mo(web, w, qty=1)
    plan = web.get(f"/make/{mo_id}/plan?quantity=3").text
    assert "needs 6" in plan and 'data-quantity="3"' in plan
    assert re.search(r'value="4"', plan) and re.search(r'value="2"', plan)  # EARLY 4 + LATE 2


def test_make_and_buy_lists_page_on_the_server(web: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    _, (widget,) = w.item("Gadget")
    with transaction(sessions) as s:
        for _ in range(55):
            manufacturing.create_order(
                s,
                {"variant_id": widget, "location_id": w.location_id, "planned_quantity": 1},
                "t",
            )
    first, second = web.get("/make"), web.get("/make?page=2")
    assert "1–50 of 55" in first.text and "51–55 of 55" in second.text
    assert first.text.count('href="/make/') == 50


def test_an_mo_blocked_for_a_material_reads_not_started_once_stock_arrives_by_adjustment(
    web: TestClient,
    sessions,  # type: ignore[no-untyped-def]
) -> None:
    """A stock adjustment does not rewrite stored MO statuses: the Make list, its status
    filter and the MO page read the status as of now, as the API does."""
    w = World(sessions).setup()
    ids = _plant(w)
    mo_id = _create_mo(web, w, qty=10)  # needs 20 resin and 10 boards: 10 and 4 on hand
    link = f'href="/make/{mo_id}"'
    assert link in web.get("/make", params={"status": "BLOCKED"}).text
    assert "blocked" in web.get(f"/make/{mo_id}").text
    w.adjust(
        [
            {
                "variant_id": ids["resin"],
                "quantity": 10,
                "batch_transactions": [{"batch_number": "MORE", "quantity": 10}],
            },
            {"variant_id": ids["board"], "quantity": 6, "serial_numbers": ["B-5..B-10"]},
        ]
    )
    assert link not in web.get("/make", params={"status": "BLOCKED"}).text
    assert link in web.get("/make", params={"status": "NOT_STARTED"}).text
    page = web.get(f"/make/{mo_id}").text
    assert re.search(r'id="mo-status">not started<', page), page[:2000]

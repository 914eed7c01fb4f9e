"""Acceptance #3: the EPCIS 2.0 export of the scenario validates against GS1's schema."""

from __future__ import annotations

import json
from datetime import date

from jsonschema import Draft7Validator
from sqlalchemy import func, select

from support.trace_scenario import build
from support.world import World
from tracelot.db.models import (
    Batch,
    Customer,
    ManufacturingOrder,
    PurchaseReceipt,
    SalesOrder,
    Variant,
)
from tracelot.services import batches, catalog, fulfillments, purchasing
from tracelot.settings import get_settings
from tracelot.standards import epcis


def _validator(shared_dir):  # type: ignore[no-untyped-def]
    schema = json.loads((shared_dir / "data/epcis/EPCIS-JSON-Schema.json").read_text())
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def test_epcis_export_of_the_scenario_validates_against_gs1_schema(sessions, shared_dir):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        doc = epcis.document(s)
        only_lot = epcis.document(s, batch_ids=[sc.other_lot])
    errors = sorted(_validator(shared_dir).iter_errors(doc), key=str)
    assert errors == [], errors[0].message if errors else ""
    events = doc["epcisBody"]["eventList"]
    kinds = [(e["type"], e.get("bizStep")) for e in events]
    assert kinds.count(("TransformationEvent", "commissioning")) == 10
    assert kinds.count(("ObjectEvent", "shipping")) == 4
    received = [e for e in events if e.get("ilmd")]
    assert {e["ilmd"]["cbvmda:lotNumber"] for e in received} == {"SUP-LOT-7", "SUP-LOT-8"}
    fin1 = next(
        e
        for e in events
        if e["type"] == "TransformationEvent"
        and any("FIN-1" in u for u in e.get("outputEPCList", []))
    )
    assert any("SUB-1" in u for u in fin1["inputEPCList"])
    assert _validator(shared_dir).is_valid(only_lot)
    shipped = [e for e in only_lot["epcisBody"]["eventList"] if e.get("bizStep") == "shipping"]
    assert len(shipped) == 1 and "FIN-5" in shipped[0]["epcList"][0]


def test_gs1_reference_examples_validate_with_the_same_validator(shared_dir):
    v = _validator(shared_dir)
    for name in ("Example_9.6.1-ObjectEvent.jsonld", "Example_9.6.4-TransformationEvent.jsonld"):
        assert v.is_valid(json.loads((shared_dir / "data/epcis" / name).read_text()))


def test_epcis_endpoint_filters_by_lot_and_time(client, sessions, shared_dir):
    w = World(sessions).setup()
    build(w)
    r = client.get("/v1/epcis/events", params={"batch": "SUP-LOT-8"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/ld+json")
    doc = r.json()
    assert _validator(shared_dir).is_valid(doc)
    assert len(doc["epcisBody"]["eventList"]) == 4  # receipt, 2 productions, 1 shipment
    empty = client.get("/v1/epcis/events", params={"to": "2000-01-01T00:00:00Z"}).json()
    assert empty["epcisBody"]["eventList"] == []


GTINS = {"resin": "9506000134369", "board": "9506000134376", "gadget": "9506000134383"}


def test_epcis_export_names_gtin_variants_by_digital_link_with_expiry_and_production_order(
    sessions, shared_dir
):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        for key, gtin in GTINS.items():
            catalog.update_variant(s, s.get(Variant, getattr(sc, key)), {"gtin": gtin})
        batches.update_batch(s, s.get(Batch, sc.lot), {"expiration_date": date(2031, 6, 30)})
        doc = epcis.document(s)
        fin1_mo = s.scalar(  # the gadgets were made FIN-1 first, one order each
            select(func.min(ManufacturingOrder.id)).where(
                ManufacturingOrder.variant_id == sc.gadget
            )
        )
    errors = sorted(_validator(shared_dir).iter_errors(doc), key=str)
    assert errors == [], errors[0].message if errors else ""
    events = doc["epcisBody"]["eventList"]
    resin, board, gadget = (f"https://id.gs1.org/01/0{GTINS[k]}" for k in GTINS)
    names = [
        u
        for e in events
        for key in ("epcList", "inputEPCList", "outputEPCList")
        for u in e.get(key, [])
    ] + [
        q["epcClass"]
        for e in events
        for key in ("quantityList", "inputQuantityList", "outputQuantityList")
        for q in e.get(key, [])
    ]
    assert names and all(u.startswith("https://id.gs1.org/01/") for u in names), names
    (receipt,) = [
        e
        for e in events
        if e.get("bizStep") == "receiving" and e["ilmd"]["cbvmda:lotNumber"] == "SUP-LOT-7"
    ]
    assert receipt["quantityList"][0]["epcClass"] == f"{resin}/10/SUP-LOT-7"
    assert receipt["ilmd"] == {
        "cbvmda:lotNumber": "SUP-LOT-7",
        "cbvmda:itemExpirationDate": "2031-06-30",
    }
    fin1 = next(e for e in events if f"{gadget}/21/FIN-1" in e.get("outputEPCList", []))
    assert fin1["type"] == "TransformationEvent"
    assert fin1["inputEPCList"] == [f"{board}/21/SUB-1"]
    assert fin1["bizTransactionList"] == [
        {
            "type": "prodorder",
            "bizTransaction": f"{get_settings().base_uri.rstrip('/')}/manufacturing_orders/"
            f"{fin1_mo}",
        }
    ]
    sub1 = next(e for e in events if f"{board}/21/SUB-1" in e.get("outputEPCList", []))
    assert sub1["inputQuantityList"][0]["epcClass"] == f"{resin}/10/SUP-LOT-7"
    shipped = [u for e in events if e.get("bizStep") == "shipping" for u in e["epcList"]]
    assert sorted(shipped) == [f"{gadget}/21/FIN-{n}" for n in range(1, 6)]


def _shipped_epcs(doc: dict) -> list[str]:  # type: ignore[type-arg]
    return sorted(
        u
        for e in doc["epcisBody"]["eventList"]
        if e.get("bizStep") == "shipping"
        for u in e.get("epcList", [])
    )


def test_a_delivered_then_reverted_order_leaves_no_shipping_event(sessions, shared_dir):
    w = World(sessions).setup()
    sc = build(w)
    with w.tx() as s:
        dave = s.scalar(
            select(SalesOrder)
            .join(Customer, Customer.id == SalesOrder.customer_id)
            .where(Customer.name == "Dave")
        )
        fulfillments.revert(s, dave, "test", "NOT_SHIPPED")
    with w.tx() as s:
        doc = epcis.document(s)
        only_lot = epcis.document(s, batch_ids=[sc.other_lot])
    errors = sorted(_validator(shared_dir).iter_errors(doc), key=str)
    assert errors == [], errors[0].message if errors else ""
    assert len(_shipped_epcs(doc)) == 4 and not any("FIN-5" in u for u in _shipped_epcs(doc))
    assert _shipped_epcs(only_lot) == []
    assert _validator(shared_dir).is_valid(only_lot)


def test_a_reverted_receipt_leaves_no_receiving_event_and_its_sibling_stays(sessions, shared_dir):
    w = World(sessions).setup()
    _, (flour,) = w.item("Flour", "batch", "material")
    with w.tx() as s:
        sup = catalog.save_supplier(s, None, {"name": "Mill"})
        lot = batches.create_batch(s, {"batch_number": "F-1", "variant_id": flour}).id
        po = purchasing.create_order(
            s,
            {
                "supplier_id": sup.id,
                "location_id": w.location_id,
                "purchase_order_rows": [{"variant_id": flour, "quantity": 10, "price_per_unit": 1}],
            },
            "test",
        )
        row = purchasing.order_rows(s, po.id)[0]
        first, second = (
            purchasing.receive(
                s,
                [
                    {
                        "purchase_order_row_id": row.id,
                        "quantity": q,
                        "batch_transactions": [{"batch_id": lot, "quantity": q}],
                    }
                ],
                "test",
            )[0].id
            for q in (3, 4)
        )
    with w.tx() as s:
        purchasing.revert_receipt(s, s.get(PurchaseReceipt, first), "test")
    with w.tx() as s:
        doc = epcis.document(s)
        second_at = s.get(PurchaseReceipt, second).received_date
    assert _validator(shared_dir).is_valid(doc)
    (received,) = doc["epcisBody"]["eventList"]
    assert received["bizStep"] == "receiving"
    assert received["quantityList"][0]["quantity"] == 4
    assert received["eventTime"][:19] == second_at.isoformat()[:19]


def test_a_deleted_stock_adjustment_leaves_no_event_and_its_sibling_stays(sessions, shared_dir):
    """Deleting an adjustment reverts each of its rows' movements on that row: its lots'
    and serials' arrivals leave the export as a reverted receipt's do."""
    from tracelot.db.models import StockAdjustment
    from tracelot.services import adjustments

    w = World(sessions).setup()
    _, (salt,) = w.item("Salt", "batch", "material")
    _, (lamp,) = w.item("Lamp", "serial")
    lots = [
        {
            "variant_id": salt,
            "quantity": 5,
            "batch_transactions": [{"batch_number": "S-1", "quantity": 5}],
        }
    ]
    units = [{"variant_id": lamp, "quantity": 2, "serial_numbers": ["L-1", "L-2"]}]
    deleted = w.adjust(lots + units)
    w.adjust(
        [{**lots[0], "quantity": 3, "batch_transactions": [{"batch_number": "S-1", "quantity": 3}]}]
    )
    with w.tx() as s:
        adjustments.delete(s, s.get(StockAdjustment, deleted), "test")
    with w.tx() as s:
        doc = epcis.document(s)
    assert _validator(shared_dir).is_valid(doc)
    (kept,) = doc["epcisBody"]["eventList"]
    assert kept["quantityList"][0]["quantity"] == 3 and "epcList" not in kept

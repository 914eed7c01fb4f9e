"""Acceptance #3: the EPCIS 2.0 export of the scenario validates against GS1's schema."""

from __future__ import annotations

import json

from jsonschema import Draft7Validator

from support.trace_scenario import build
from support.world import World
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

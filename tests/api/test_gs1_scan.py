"""Acceptance #4: GS1 scans in every form name the same batch; a missing separator warns."""

from __future__ import annotations

import pytest

from tracelot.standards import gs1

GTIN13 = "9506000134352"


def _batch_world(client, number="ABC123"):  # type: ignore[no-untyped-def]
    loc = client.post("/v1/locations", json={"name": "Main"}).json()["id"]
    product = client.post(
        "/v1/products",
        json={
            "name": "Widget",
            "batch_tracked": True,
            "variants": [{"sku": "WID", "gtin": GTIN13}],
        },
    ).json()
    vid = product["variants"][0]["id"]
    r = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": loc,
            "stock_adjustment_rows": [
                {
                    "variant_id": vid,
                    "quantity": 4,
                    "batch_transactions": [
                        {"batch_number": number, "expiration_date": "2030-12-31", "quantity": 4}
                    ],
                }
            ],
        },
    )
    assert r.status_code == 200, r.text
    batch_id = r.json()["stock_adjustment_rows"][0]["batch_transactions"][0]["batch_id"]
    return vid, batch_id


@pytest.mark.parametrize(
    "raw",
    [
        "]d201095060001343521730123110ABC123",
        "(01)09506000134352(17)301231(10)ABC123",
        "https://id.gs1.org/01/09506000134352/10/ABC123?17=301231",
    ],
)
def test_every_scan_form_resolves_to_the_same_batch(client, raw):
    vid, batch_id = _batch_world(client)
    r = client.post("/v1/scan", json={"scan": raw})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["gtin"] == "09506000134352"
    assert body["variant"]["id"] == vid
    assert body["batch"]["id"] == batch_id
    assert body["expiration_date"] == "2030-12-31"
    assert body["warnings"] == []
    assert body["found"] is True


def test_a_batch_field_that_swallowed_the_expiry_is_a_warning_not_a_match(client):
    _batch_world(client)
    r = client.post("/v1/scan", json={"scan": "]d2010950600013435210ABC12317301231"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "batch" not in body
    assert len(body["warnings"]) == 1
    assert "(10)" in body["warnings"][0] and "(17)301231" in body["warnings"][0]
    assert "separator" in body["warnings"][0]


@pytest.mark.parametrize(
    "raw",
    [
        "(01)09506000134352(17)301231(10)X17301231",
        "https://id.gs1.org/01/09506000134352/10/X17301231?17=301231",
        "]d201095060001343521730123110X17301231\x1d",
        "]d2010950600013435210X17301231\x1d17301231",
        "]d2010950600013435210X17301231<GS>17301231",
    ],
)
def test_a_batch_that_looks_like_element_strings_is_matched_when_the_scan_delimits_it(client, raw):
    vid, batch_id = _batch_world(client, "X17301231")
    body = client.post("/v1/scan", json={"scan": raw}).json()
    assert body["warnings"] == []
    assert (body["batch_number"], body["variant"]["id"]) == ("X17301231", vid)
    assert body["batch"]["id"] == batch_id


def test_an_unterminated_raw_batch_that_looks_like_element_strings_still_warns():
    s = gs1.interpret("]d2010950600013435210X17301231")
    assert len(s.warnings) == 1 and "(17)301231" in s.warnings[0]


def test_a_serial_ending_a_raw_scan_after_a_separated_batch_is_the_one_checked():
    s = gs1.interpret("]d2010950600013435210X17301231\x1d21SN5")
    assert (s.batch_number, s.serial_number, s.warnings) == ("X17301231", "SN5", [])


def test_a_scan_that_is_not_gs1_is_refused_with_how_to_fix(client):
    r = client.post("/v1/scan", json={"scan": "hello"})
    assert r.status_code == 422
    assert r.json()["code"] == "INVALID_BARCODE"


def test_separated_scan_with_a_serial_parses_both_variable_fields():
    s = gs1.interpret("]C1010950600013435210LOT1\x1d21SN5")
    assert (s.batch_number, s.serial_number, s.warnings) == ("LOT1", "SN5", [])


def test_digital_link_round_trips_through_the_parser():
    pairs = gs1.element_string(GTIN13, batch="A/B-1", serial=None)
    uri = gs1.digital_link(pairs)
    assert gs1.interpret(uri).batch_number == "A/B-1"

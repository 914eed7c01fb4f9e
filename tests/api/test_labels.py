"""Acceptance #5: GS1 DataMatrix and GS1-128 labels decode to the same element strings."""

from __future__ import annotations

import io
import re
from xml.etree import ElementTree

import pytest
import zxingcpp
from PIL import Image

from tracelot.standards import gs1, labels

PAIRS = gs1.element_string("9506000134352", batch="ABC123", expiry=gs1._yymmdd("301231"))


def _decode(png: bytes) -> list[zxingcpp.Result]:
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))


@pytest.mark.parametrize(
    ("symbology", "fmt"), [("datamatrix", "DataMatrix"), ("gs1_128", "Code128")]
)
def test_gs1_label_decodes_back_to_the_same_element_strings(symbology, fmt):
    (result,) = _decode(labels.png(symbology, PAIRS))
    assert result.format.name == fmt
    assert result.content_type.name == "GS1" or result.symbology_identifier in ("]d2", "]C1")
    assert result.text == "(01)09506000134352(17)301231(10)ABC123"
    assert gs1.interpret(result.text).element_strings == dict(PAIRS)


def test_serial_label_separates_variable_fields():
    pairs = gs1.element_string("09506000134352", batch="L1", serial="SN-9")
    (result,) = _decode(labels.png("datamatrix", pairs))
    assert result.text == "(01)09506000134352(10)L1(21)SN-9"


def test_qr_label_carries_the_digital_link():
    (result,) = _decode(labels.png("qr", PAIRS))
    assert result.text == "https://id.gs1.org/01/09506000134352/10/ABC123?17=301231"
    assert gs1.interpret(result.text).batch_number == "ABC123"


def test_label_endpoint_formats(client):
    loc = client.post("/v1/locations", json={"name": "Main"}).json()["id"]
    vid = client.post(
        "/v1/products",
        json={
            "name": "Widget",
            "batch_tracked": True,
            "variants": [{"sku": "WID", "gtin": "9506000134352"}],
        },
    ).json()["variants"][0]["id"]
    adj = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": loc,
            "stock_adjustment_rows": [
                {
                    "variant_id": vid,
                    "quantity": 1,
                    "batch_transactions": [
                        {"batch_number": "ABC123", "expiration_date": "2030-12-31", "quantity": 1}
                    ],
                }
            ],
        },
    ).json()
    bid = adj["stock_adjustment_rows"][0]["batch_transactions"][0]["batch_id"]
    r = client.get(f"/v1/labels/batches/{bid}", params={"symbology": "gs1_128"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert _decode(r.content)[0].text == "(01)09506000134352(17)301231(10)ABC123"
    for symbology in labels.SYMBOLOGIES:
        r = client.get(
            f"/v1/labels/batches/{bid}", params={"format": "svg", "symbology": symbology}
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        _assert_svg(r.content)
        r = client.get(
            f"/v1/labels/batches/{bid}", params={"format": "pdf", "symbology": symbology}
        )
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        _assert_one_page_pdf(r.content)
    zpl = client.get(f"/v1/labels/batches/{bid}", params={"format": "zpl"}).text
    assert zpl.startswith("^XA") and "^BX" in zpl and "_10109506000134352" in zpl


def _assert_svg(body: bytes) -> None:
    """Well-formed XML whose root element is <svg> (in the SVG namespace or none)."""
    root = ElementTree.fromstring(body)
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg"), root.tag
    assert len(root) > 0, "an empty drawing"


def _assert_one_page_pdf(body: bytes) -> None:
    """A complete PDF file (header, trailer) with exactly one page object that draws an image."""
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", body)) == 1
    assert re.search(rb"/Type\s*/Pages\b", body) and re.search(rb"/Subtype\s*/Image\b", body)

"""Bad input gets a clear 422 naming the field and changes nothing (issue 2, acceptance 5)."""

from __future__ import annotations

import pytest

from support.world import ledger_snapshot
from tracelot.db.engine import transaction
from tracelot.domain.errors import TracelotError
from tracelot.services import imports


@pytest.fixture
def stock(client):
    loc = client.post("/v1/locations", json={"name": "Main"}).json()["id"]
    serial = client.post(
        "/v1/products", json={"name": "S", "serial_tracked": True, "variants": [{"sku": "S-1"}]}
    ).json()
    batch = client.post(
        "/v1/products", json={"name": "B", "batch_tracked": True, "variants": [{"sku": "B-1"}]}
    ).json()
    plain = client.post("/v1/products", json={"name": "P", "variants": [{"sku": "P-1"}]}).json()
    sv, bv, pv = (x["variants"][0]["id"] for x in (serial, batch, plain))
    r = client.post(
        "/v1/stock_adjustments",
        json={
            "location_id": loc,
            "stock_adjustment_rows": [
                {"variant_id": sv, "quantity": 2, "serial_numbers": ["SN-1", "SN-2"]},
                {
                    "variant_id": bv,
                    "quantity": 5,
                    "batch_transactions": [{"batch_number": "LOT-1", "quantity": 5}],
                },
                {"variant_id": pv, "quantity": 3},
            ],
        },
    )
    assert r.status_code == 200, r.text
    return {"loc": loc, "sv": sv, "bv": bv, "pv": pv}


def _unchanged(sessions, request):
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    response = request()
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["details"] and all({"path", "code", "message"} <= set(d) for d in body["details"])
    return body


def _adjust(client, loc, *rows):
    return lambda: client.post(
        "/v1/stock_adjustments", json={"location_id": loc, "stock_adjustment_rows": list(rows)}
    )


def test_unknown_variant_is_refused_naming_the_row(client, sessions, stock):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {"variant_id": stock["pv"], "quantity": 1},
            {"variant_id": 9999, "quantity": 1},
        ),
    )
    assert body["code"] == "MISSING"
    assert body["details"][0]["path"] == "stock_adjustment_rows[1].variant_id"


def test_unknown_location_is_refused(client, sessions, stock):
    body = _unchanged(sessions, _adjust(client, 9999, {"variant_id": stock["pv"], "quantity": 1}))
    assert body["details"][0]["path"] == "location_id"


def test_taking_more_than_is_on_hand_is_refused_and_earlier_rows_are_undone(
    client, sessions, stock
):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {"variant_id": stock["pv"], "quantity": 10},
            {"variant_id": stock["pv"], "quantity": -50},
        ),
    )
    assert body["code"] == "INSUFFICIENT_STOCK"
    assert "on hand" in body["message"]
    assert [d["path"] for d in body["details"]] == ["stock_adjustment_rows[1].quantity"]


def test_taking_more_of_a_batch_than_is_on_hand_names_the_row(client, sessions, stock):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {"variant_id": stock["pv"], "quantity": 1},
            {
                "variant_id": stock["bv"],
                "quantity": -6,
                "batch_transactions": [{"batch_number": "LOT-1", "quantity": 6}],
            },
        ),
    )
    assert body["code"] == "INSUFFICIENT_STOCK"
    assert body["details"][0]["path"] == "stock_adjustment_rows[1].quantity"
    assert "LOT-1" in body["message"] and "Only 5" in body["message"]


def test_removing_from_a_batch_number_that_does_not_exist_is_refused_naming_it(
    client, sessions, stock
):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {
                "variant_id": stock["bv"],
                "quantity": -1,
                "batch_transactions": [{"batch_number": "LOT-404", "quantity": 1}],
            },
        ),
    )
    assert body["code"] == "MISSING" and "LOT-404" in body["message"]
    assert body["details"][0]["path"] == (
        "stock_adjustment_rows[0].batch_transactions[0].batch_number"
    )


def test_a_serial_that_exists_already_is_refused_by_name(client, sessions, stock):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {"variant_id": stock["sv"], "quantity": 2, "serial_numbers": ["SN-3", "SN-1"]},
        ),
    )
    assert body["code"] == "DUPLICATE" and "SN-1" in body["message"]


def test_a_serial_repeated_in_one_request_is_refused(client, sessions, stock):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {"variant_id": stock["sv"], "quantity": 2, "serial_numbers": ["SN-7", "SN-7"]},
        ),
    )
    assert body["code"] == "DUPLICATE"


@pytest.mark.parametrize("bad", ["X" * 33, "SN#9", "SN\u00e99"])
def test_a_malformed_serial_is_refused_naming_it(client, sessions, stock, bad):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {"variant_id": stock["sv"], "quantity": 1, "serial_numbers": [bad]},
        ),
    )
    assert body["code"] == "INVALID_SERIAL"
    assert body["details"][0]["path"].endswith("serial_numbers[0]")


def test_a_batch_number_reused_on_the_same_variant_is_refused(client, sessions, stock):
    body = _unchanged(
        sessions,
        lambda: client.post(
            "/v1/batches", json={"batch_number": "LOT-1", "variant_id": stock["bv"]}
        ),
    )
    assert body["code"] == "DUPLICATE" and body["details"][0]["path"] == "batch_number"


@pytest.mark.parametrize("number", ["unbatched", "UnBatched"])
def test_a_batch_named_unbatched_is_refused_as_reserved(client, sessions, stock, number):
    body = _unchanged(
        sessions,
        lambda: client.post(
            "/v1/batches", json={"batch_number": number, "variant_id": stock["bv"]}
        ),
    )
    assert body["code"] == "RESERVED_BATCH_NUMBER"
    assert body["details"][0]["path"] == "batch_number" and "reserved" in body["message"]


def test_receiving_into_a_batch_named_unbatched_is_refused_naming_the_allocation(
    client, sessions, stock
):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {
                "variant_id": stock["bv"],
                "quantity": 2,
                "batch_transactions": [
                    {"batch_number": "LOT-3", "quantity": 1},
                    {"batch_number": "UNBATCHED", "quantity": 1},
                ],
            },
        ),
    )
    assert body["code"] == "RESERVED_BATCH_NUMBER"
    assert body["details"][0]["path"] == (
        "stock_adjustment_rows[0].batch_transactions[1].batch_number"
    )


def test_renaming_a_batch_to_unbatched_is_refused(client, sessions, stock):
    (lot,) = client.get("/v1/batch_stocks", params={"variant_id": stock["bv"]}).json()["data"]
    body = _unchanged(
        sessions,
        lambda: client.patch(
            f"/v1/batch_stocks/{lot['batch_id']}", json={"batch_number": "Unbatched"}
        ),
    )
    assert body["code"] == "RESERVED_BATCH_NUMBER"
    assert client.get("/v1/batch_stocks").json()["data"][0]["batch_number"] == "LOT-1"


def test_a_batch_csv_row_named_unbatched_is_refused_naming_the_row(sessions, stock):
    text = (
        "sku,batch_number,expiration_date,batch_barcode,location,quantity\nB-1,Unbatched,,,Main,4\n"
    )
    with pytest.raises(TracelotError) as exc, transaction(sessions) as s:
        imports.import_batches(s, text, "test")
    assert exc.value.code == "RESERVED_BATCH_NUMBER"
    assert [d.path for d in exc.value.details] == ["row 2.batch_number"]


def test_a_batch_on_an_untracked_item_is_refused(client, sessions, stock):
    body = _unchanged(
        sessions,
        lambda: client.post("/v1/batches", json={"batch_number": "Z", "variant_id": stock["pv"]}),
    )
    assert body["code"] == "NOT_BATCH_TRACKED"


def test_an_expiry_that_is_not_a_date_is_refused_naming_the_field(client, sessions, stock):
    body = _unchanged(
        sessions,
        lambda: client.post(
            "/v1/batches",
            json={
                "batch_number": "LOT-9",
                "variant_id": stock["bv"],
                "expiration_date": "next week",
            },
        ),
    )
    assert body["code"] == "VALIDATION_FAILED"
    assert body["details"][0]["path"] == "expiration_date"


def test_batch_allocations_that_do_not_add_up_are_refused(client, sessions, stock):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {
                "variant_id": stock["bv"],
                "quantity": 4,
                "batch_transactions": [{"batch_number": "LOT-2", "quantity": 3}],
            },
        ),
    )
    assert body["code"] == "QUANTITY_MISMATCH"


def test_removing_a_serial_that_is_not_in_stock_is_refused(client, sessions, stock):
    body = _unchanged(
        sessions,
        _adjust(
            client,
            stock["loc"],
            {"variant_id": stock["sv"], "quantity": -1, "serial_numbers": ["NOPE"]},
        ),
    )
    assert body["code"] == "MISSING" and "NOPE" in body["message"]


def test_a_csv_with_a_bad_row_is_refused_naming_the_row_and_imports_nothing(sessions, stock):
    text = "sku,serial_number,location\nS-1,SN-10,Main\nS-1,SN#11,Main\nNOPE,SN-12,Main\n"
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    with pytest.raises(TracelotError) as exc, transaction(sessions) as s:
        imports.import_serials(s, text, "test")
    assert exc.value.details[0].path == "row 3.serial_number"
    assert exc.value.message.startswith("Row 3:")
    assert any(d.path == "row 4.sku" for d in exc.value.details)
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before


def test_a_serial_csv_naming_a_serial_twice_or_one_that_exists_names_those_rows(sessions, stock):
    text = (
        "sku,serial_number,location\n"
        "S-1,SN-20,Main\n"
        "S-1,SN-1,Main\n"
        "S-1,SN-21,Main\n"
        "S-1,SN-20,Main\n"
    )
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    with pytest.raises(TracelotError) as exc, transaction(sessions) as s:
        imports.import_serials(s, text, "test")
    assert exc.value.code == "DUPLICATE"
    assert [d.path for d in exc.value.details] == ["row 3.serial_number", "row 5.serial_number"]
    existing, repeated = exc.value.details
    assert "SN-1" in existing.message and "already exists" in existing.message
    assert "SN-20" in repeated.message and "row 2" in repeated.message
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before


def test_a_batch_csv_with_a_bad_expiry_is_refused_naming_the_row(sessions, stock):
    text = (
        "sku,batch_number,expiration_date,batch_barcode,location,quantity\n"
        "B-1,LOT-6,2027-01-30,,Main,2\n"
        "B-1,LOT-5,2027-02-30,,Main,4\n"
    )
    with transaction(sessions) as s:
        before = ledger_snapshot(s)
    with pytest.raises(TracelotError) as exc, transaction(sessions) as s:
        imports.import_batches(s, text, "test")
    assert [d.path for d in exc.value.details] == ["row 3.expiration_date"]
    assert "YYYY-MM-DD" in exc.value.message
    with transaction(sessions) as s:
        assert ledger_snapshot(s) == before

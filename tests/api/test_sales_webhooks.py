"""Webhooks out for sales events (issue 3): signed, sent after commit only, retried.

A real HTTP server on 127.0.0.1 receives the deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from test_sales_api import ok, receive_serials, setup  # type: ignore[import-not-found]

from tracelot.db.base import utcnow
from tracelot.db.engine import transaction
from tracelot.db.models import WebhookDelivery
from tracelot.services import webhooks


class Receiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                fail = len(outer.requests) <= outer.fail_first
                self.send_response(500 if fail else 200)
                self.end_headers()
                outer.got.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.requests) < count and time.monotonic() < deadline:
            self.got.wait(0.05)
            self.got.clear()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _subscribe(client, url: str, events: list[str]) -> dict:  # type: ignore[no-untyped-def]
    return ok(client.post("/v1/webhooks", json={"url": url, "subscribed_events": events}))


def test_sales_order_events_are_signed_and_sent_after_commit(client, receiver):
    hook = _subscribe(client, receiver.url, ["sales_order.created", "sales_order.delivered"])
    loc, vid, cust = setup(client)
    receive_serials(client, loc, vid, "W-1", 1)
    so = ok(
        client.post(
            "/v1/sales_orders",
            json={"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": 1}]},
        )
    )
    receiver.wait(1)
    headers, body = receiver.requests[0]
    expected = hmac.new(hook["token"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-sha2-signature"] == expected
    payload = json.loads(body)
    assert payload["action"] == "sales_order.created" and payload["webhook_id"] == hook["id"]
    assert payload["object"]["id"] == str(so["id"]) and payload["object"]["status"]
    ok(client.post(f"/v1/sales_orders/{so['id']}/deliver"))
    receiver.wait(2)
    assert json.loads(receiver.requests[1][1])["action"] == "sales_order.delivered"


def test_a_refused_request_sends_nothing(client, receiver, sessions):
    _subscribe(client, receiver.url, ["sales_order.created"])
    loc, vid, cust = setup(client)
    r = client.post(
        "/v1/sales_orders",
        json={
            "customer_id": cust,
            "sales_order_rows": [
                {"variant_id": vid, "quantity": 1},
                {"variant_id": 999999, "quantity": 1},
            ],
        },
    )
    assert r.status_code == 422
    with transaction(sessions) as s:
        assert s.scalars(select(WebhookDelivery)).all() == []
    assert receiver.requests == []


def test_serial_assignment_changes_are_sent_to_subscribers(client, receiver):
    _subscribe(client, receiver.url, ["serial_number.updated"])
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "W-1", 1)
    so = ok(
        client.post(
            "/v1/sales_orders",
            json={"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": 1}]},
        )
    )
    row = so["sales_order_rows"][0]["id"]
    ok(
        client.patch(
            f"/v1/sales_order_rows/{row}",
            json={"serial_number_transactions": [{"serial_number_id": sn["W-1"], "quantity": 1}]},
        )
    )
    receiver.wait(1)
    payload = json.loads(receiver.requests[0][1])
    assert payload["action"] == "serial_number.updated"
    assert payload["object"]["id"] == str(row)


def test_failed_deliveries_are_retried_with_back_off(client, sessions, monkeypatch):
    monkeypatch.setenv("TRACELOT_WEBHOOK_BACKOFF", "3600")
    receiver = Receiver(fail_first=2)
    try:
        _subscribe(client, receiver.url, ["sales_order.created"])
        loc, vid, cust = setup(client)
        ok(
            client.post(
                "/v1/sales_orders",
                json={
                    "customer_id": cust,
                    "sales_order_rows": [{"variant_id": vid, "quantity": 1}],
                },
            )
        )
        receiver.wait(1)
        delivery = _wait_attempts(sessions, 1)
        assert delivery.delivered_at is None and delivery.last_status == 500
        first_due = delivery.next_attempt_at
        webhooks.drain(sessions, now=first_due + timedelta(seconds=1))
        delivery = _wait_attempts(sessions, 2)
        assert delivery.next_attempt_at - first_due > timedelta(seconds=3600)  # doubled
        webhooks.drain(sessions, now=utcnow() + timedelta(days=1))
        delivery = _wait_attempts(sessions, 3)
        assert delivery.delivered_at is not None
        assert [h.get("x-katana-retry-num") for h, _ in receiver.requests] == [None, "1", "2"]
    finally:
        receiver.server.shutdown()


def _wait_attempts(sessions, n: int) -> WebhookDelivery:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while True:
        with transaction(sessions) as s:
            d = s.scalars(select(WebhookDelivery)).one()
            if d.attempts >= n or time.monotonic() > deadline:
                s.expunge(d)
                return d
        time.sleep(0.05)


def test_new_batches_and_serials_are_sent_to_subscribers_by_name(client, receiver):
    """KATANA_API.md §5: batch and serial events, which Katana does not have."""
    _subscribe(client, receiver.url, ["batch.created", "serial_number.created"])
    loc, vid, _ = setup(client)
    receive_serials(client, loc, vid, "E-1..E-3", 3)
    bv = ok(
        client.post(
            "/v1/products",
            json={"name": "Lot thing", "batch_tracked": True, "variants": [{"sku": "LOT-T"}]},
        )
    )
    batch = ok(
        client.post(
            "/v1/batches", json={"batch_number": "B-9", "variant_id": bv["variants"][0]["id"]}
        )
    )
    receiver.wait(4)
    actions = sorted(json.loads(body)["action"] for _, body in receiver.requests)
    assert actions == ["batch.created"] + ["serial_number.created"] * 3
    ids = {json.loads(body)["object"]["id"] for _, body in receiver.requests}
    assert str(batch["id"]) in ids


SALES_EVENTS = [
    "sales_order.created",
    "sales_order.updated",
    "sales_order.packed",
    "sales_order.delivered",
]


def _events(sessions) -> list[str]:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        return list(s.scalars(select(WebhookDelivery.event).order_by(WebhookDelivery.id)))


def _packed_half(client, n: int = 2) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """An order of ``n`` units with one unit packed: (order id, row id)."""
    loc, vid, cust = setup(client)
    sn = receive_serials(client, loc, vid, "V-1..V-4", 4)
    so = ok(
        client.post(
            "/v1/sales_orders",
            json={"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": n}]},
        )
    )
    row = so["sales_order_rows"][0]["id"]
    ok(
        client.post(
            "/v1/sales_order_fulfillments",
            json={
                "sales_order_id": so["id"],
                "status": "PACKED",
                "sales_order_fulfillment_rows": [
                    {"sales_order_row_id": row, "quantity": 1, "serial_numbers": [sn["V-1"]]}
                ],
            },
        )
    )
    return so["id"], row


def test_delivering_packed_and_unshipped_units_at_once_sends_one_delivered_event(
    client, receiver, sessions
):
    _subscribe(client, receiver.url, SALES_EVENTS)
    so, _ = _packed_half(client)
    before = len(_events(sessions))
    assert ok(client.post(f"/v1/sales_orders/{so}/deliver"))["status"] == "DELIVERED"
    assert _events(sessions)[before:] == ["sales_order.delivered"]
    ok(client.post(f"/v1/sales_orders/{so}/deliver"))  # nothing left to deliver: no news
    assert _events(sessions)[before:] == ["sales_order.delivered"]


@pytest.mark.parametrize("to", ["PACKED", "NOT_SHIPPED"])
def test_a_revert_sends_one_updated_event(client, receiver, sessions, to):
    _subscribe(client, receiver.url, SALES_EVENTS)
    so, _ = _packed_half(client)
    ok(client.post(f"/v1/sales_orders/{so}/deliver"))  # two fulfilments now, both delivered
    before = len(_events(sessions))
    assert ok(client.post(f"/v1/sales_orders/{so}/revert", json={"status": to}))["status"] == to
    assert _events(sessions)[before:] == ["sales_order.updated"]


def test_revert_assign_deliver_sends_only_the_delivered_event(client, receiver, sessions):
    _subscribe(client, receiver.url, SALES_EVENTS)
    so, row = _packed_half(client, n=1)
    ok(client.post(f"/v1/sales_orders/{so}/deliver"))
    before = len(_events(sessions))
    done = ok(
        client.post(
            f"/v1/sales_orders/{so}/revert_assign_deliver",
            json={"rows": [{"sales_order_row_id": row}]},
        )
    )
    assert done["status"] == "DELIVERED"
    assert _events(sessions)[before:] == ["sales_order.delivered"]

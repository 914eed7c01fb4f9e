"""The recall's JSON, written in parts while it is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from tracelot.api.routes.tracing import _json_chunks


def test_long_lists_are_written_in_parts_that_make_the_same_json():
    at = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
    report = {
        "summary": "3 customer(s)",
        "shipments": [
            {"order_no": f"SO-{i}", "quantity": Decimal("2.500000"), "date": at} for i in range(7)
        ],
        "affected": [{"serial_number": f"SN-{i}"} for i in range(3)],
        "on_hand": [],
    }
    whole = json.loads(b"".join(_json_chunks(dict(report, shipments=list(report["shipments"])))))
    parts = list(_json_chunks(report, size=2))
    assert len(parts) > 6 and json.loads(b"".join(parts)) == whole
    assert whole["shipments"][6] == {
        "order_no": "SO-6",
        "quantity": "2.5",
        "date": "2026-12-02T10:30:00.000Z",
    }
    assert [a["serial_number"] for a in whole["affected"]] == ["SN-0", "SN-1", "SN-2"]
    assert report["shipments"] == []  # each part let go once written


def test_a_report_made_only_of_long_lists_is_valid_json():
    parts = list(_json_chunks({"a": [1, 2, 3], "b": [4, 5, 6]}, size=2))
    assert json.loads(b"".join(parts)) == {"a": [1, 2, 3], "b": [4, 5, 6]}

"""WooCommerce order webhooks (order.created / order.updated) -> ImportedOrder.

WooCommerce sends ``id``, ``number``, ``status`` (``completed`` = shipped),
``line_items[{sku, quantity, price, name}]``, ``billing`` and ``shipping``.
"""

from __future__ import annotations

from typing import Any

from tracelot.integrations.base import (
    Address,
    ImportedOrder,
    join_name,
    lines,
    need_id,
    need_object,
)

CHANNEL = "woocommerce"


def parse(payload: Any) -> ImportedOrder:
    p = need_object(payload)
    ext = need_id(p, "id")
    bill, ship = p.get("billing") or {}, p.get("shipping") or {}
    name = (
        join_name(bill.get("first_name"), bill.get("last_name"))
        or bill.get("company")
        or bill.get("email")
        or f"WooCommerce customer {p.get('customer_id') or ext}"
    )
    return ImportedOrder(
        channel=CHANNEL,
        external_id=ext,
        name=str(p.get("number") or ext),
        customer_name=name,
        customer_email=bill.get("email"),
        customer_phone=bill.get("phone"),
        lines=lines(p.get("line_items"), "line_items"),
        completed=p.get("status") == "completed",
        store_status=p.get("status"),
        currency=p.get("currency"),
        addresses=[
            _address(a, kind)
            for a, kind in ((bill, "billing"), (ship, "shipping"))
            if a.get("address_1") or a.get("city")
        ],
    )


def _address(a: dict[str, Any], kind: str) -> Address:
    return Address(
        kind,
        a.get("first_name"),
        a.get("last_name"),
        a.get("company"),
        a.get("phone"),
        a.get("address_1"),
        a.get("address_2"),
        a.get("city"),
        a.get("state"),
        a.get("postcode"),
        a.get("country"),
    )

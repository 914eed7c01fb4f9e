"""Shopify order webhooks (orders/create, orders/updated, orders/fulfilled) -> ImportedOrder.

Shopify sends ``id`` (the store's order id), ``name`` (``#1001``),
``line_items[{sku, quantity, price, title}]``, ``customer``, addresses, and
``financial_status`` / ``fulfillment_status`` (``fulfilled`` = already shipped).
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

CHANNEL = "shopify"


def parse(payload: Any) -> ImportedOrder:
    p = need_object(payload)
    ext = need_id(p, "id")
    cust = p.get("customer") or {}
    ship, bill = p.get("shipping_address") or {}, p.get("billing_address") or {}
    name = (
        join_name(cust.get("first_name"), cust.get("last_name"))
        or join_name(ship.get("first_name"), ship.get("last_name"))
        or bill.get("company")
        or p.get("email")
        or f"Shopify customer {cust.get('id') or ext}"
    )
    fulfilment = p.get("fulfillment_status")
    return ImportedOrder(
        channel=CHANNEL,
        external_id=ext,
        name=p.get("name") or str(p.get("order_number") or ""),
        customer_name=name,
        customer_email=cust.get("email") or p.get("email"),
        customer_phone=cust.get("phone") or p.get("phone"),
        lines=lines(p.get("line_items"), "line_items", title_key="title"),
        completed=fulfilment == "fulfilled",
        store_status=f"{p.get('financial_status') or 'unknown'}/{fulfilment or 'unfulfilled'}",
        currency=p.get("currency"),
        addresses=[_address(a, kind) for a, kind in ((bill, "billing"), (ship, "shipping")) if a],
    )


def _address(a: dict[str, Any], kind: str) -> Address:
    return Address(
        kind,
        a.get("first_name"),
        a.get("last_name"),
        a.get("company"),
        a.get("phone"),
        a.get("address1"),
        a.get("address2"),
        a.get("city"),
        a.get("province") or a.get("province_code"),
        a.get("zip"),
        a.get("country_code") or a.get("country"),
    )

"""tracelot's generic order JSON (docs/imports.md) -> ImportedOrder.

``{order_id*, order_no, status: open|completed, currency, customer: {name*, email,
phone}, lines*: [{sku*, quantity*, price_per_unit}], shipping_address: {...}}``
"""

from __future__ import annotations

from typing import Any

from tracelot.domain import errors
from tracelot.integrations.base import Address, ImportedOrder, lines, need_id, need_object

CHANNEL = "generic"
ADDRESS_KEYS = (
    "first_name",
    "last_name",
    "company",
    "phone",
    "line_1",
    "line_2",
    "city",
    "state",
    "zip",
    "country",
)


def parse(payload: Any) -> ImportedOrder:
    p = need_object(payload)
    ext = need_id(p, "order_id")
    cust = p.get("customer") or {}
    if not isinstance(cust, dict) or not str(cust.get("name") or "").strip():
        raise errors.refuse(errors.MISSING, "The order needs customer.name.", path="customer.name")
    status = p.get("status") or "open"
    if status not in ("open", "completed"):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "status is 'open' or 'completed' (already shipped by the store).",
            path="status",
        )
    addresses = [
        Address(kind, **{k: a.get(k) for k in ADDRESS_KEYS})
        for kind in ("billing", "shipping")
        if isinstance(a := p.get(f"{kind}_address"), dict)
    ]
    return ImportedOrder(
        channel=CHANNEL,
        external_id=ext,
        name=p.get("order_no"),
        customer_name=str(cust["name"]).strip(),
        customer_email=cust.get("email"),
        customer_phone=cust.get("phone"),
        lines=lines(p.get("lines"), "lines", price_key="price_per_unit", title_key="title"),
        completed=status == "completed",
        store_status=status,
        currency=p.get("currency"),
        addresses=addresses,
    )

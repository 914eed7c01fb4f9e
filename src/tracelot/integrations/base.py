"""The one imported-order shape every store payload is turned into."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tracelot.domain import errors


@dataclass
class Line:
    sku: str
    quantity: Decimal
    price_per_unit: Decimal | None = None
    title: str | None = None


@dataclass
class Address:
    entity_type: str  # billing | shipping
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    line_1: str | None = None
    line_2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


@dataclass
class ImportedOrder:
    channel: str
    external_id: str
    name: str | None
    customer_name: str
    customer_email: str | None
    customer_phone: str | None
    lines: list[Line]
    completed: bool  # the store has already fulfilled it: arrives DELIVERED
    store_status: str | None = None  # financial/fulfilment status as the store says it
    currency: str | None = None
    addresses: list[Address] = field(default_factory=list)


def need_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "The order payload must be a JSON object (one order as the store's webhook sends it).",
            path="",
        )
    return payload


def need_id(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if value is None or str(value).strip() == "":
        raise errors.refuse(
            errors.MISSING,
            f"The order has no '{key}': the store's order id "
            "is needed so that it is never imported twice.",
            path=key,
        )
    return str(value).strip()


def lines(
    items: Any,
    path: str,
    sku_key: str = "sku",
    qty_key: str = "quantity",
    price_key: str = "price",
    title_key: str = "name",
) -> list[Line]:
    if not isinstance(items, list) or not items:
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"The order needs at least one line in '{path}'.", path=path
        )
    out = []
    for i, it in enumerate(items):
        p = f"{path}[{i}]"
        if not isinstance(it, dict):
            raise errors.refuse(errors.VALIDATION_FAILED, "Each line is an object.", path=p)
        sku = str(it.get(sku_key) or "").strip()
        if not sku:
            raise errors.refuse(
                errors.MISSING,
                f"Line {i + 1} has no SKU: give the product a "
                "SKU in the store that matches a tracelot variant.",
                path=f"{p}.{sku_key}",
            )
        out.append(
            Line(
                sku,
                decimal(it.get(qty_key), f"{p}.{qty_key}"),
                decimal(it[price_key], f"{p}.{price_key}")
                if it.get(price_key) not in (None, "")
                else None,
                it.get(title_key),
            )
        )
    return out


def decimal(value: Any, path: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"'{value}' is not a number.", path=path
        ) from None


def join_name(*parts: Any) -> str:
    return " ".join(str(p).strip() for p in parts if p and str(p).strip())

"""E-commerce order import: a store's order payload becomes one sales order, once.

The same store order (channel + store order id) is never imported twice, even
after the local order was deleted: ``order_imports`` remembers it and a
re-send answers with the existing order. An order the store has already
fulfilled arrives DELIVERED; its serial rows have no serials yet, so they
carry the missing-serials warning until revert-assign-deliver completes them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracelot.db.models import Customer, SalesOrder, Variant
from tracelot.domain import errors
from tracelot.integrations import base, generic, shopify, woocommerce
from tracelot.services import catalog, fulfillments, sales

PARSERS = {"shopify": shopify.parse, "woocommerce": woocommerce.parse, "generic": generic.parse}


def parse(channel: str, payload: Any) -> base.ImportedOrder:
    if channel not in PARSERS:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Unknown channel '{channel}': use {', '.join(sorted(PARSERS))}.",
            path="channel",
        )
    return PARSERS[channel](payload)


def import_order(
    session: Session, channel: str, payload: Any, actor: str
) -> tuple[SalesOrder, bool]:
    """Returns the order and whether it was created now (False: imported before)."""
    imp = parse(channel, payload)
    seen = sales.imported_order_id(session, channel, imp.external_id)
    if seen is not None:
        return _existing(session, imp, seen), False
    try:
        with session.begin_nested():  # a concurrent re-send that wins undoes all of this
            return _create(session, channel, imp, actor), True
    except sales.AlreadyImported as dup:
        return _existing(session, imp, dup.sales_order_id), False


def _existing(session: Session, imp: base.ImportedOrder, order_id: int) -> SalesOrder:
    order = session.get(SalesOrder, order_id)
    if order is None:
        raise errors.refuse(
            errors.DUPLICATE,
            f"Store order {imp.external_id} was imported before; its local order no longer exists.",
            path="id",
        )
    return order


def _create(session: Session, channel: str, imp: base.ImportedOrder, actor: str) -> SalesOrder:
    rows = _rows(session, imp)
    order = sales.create_order(
        session,
        {
            "customer_id": _customer(session, imp).id,
            "sales_order_rows": rows,
            "currency": imp.currency,
            "customer_ref": imp.name,
            "ecommerce_order_type": channel,
            "ecommerce_store_name": channel,
            "ecommerce_order_id": imp.external_id,
            "additional_info": _note(imp),
            "_imported": True,
        },
        actor,
    )
    sales.register_import(session, channel, imp.external_id, imp.name, order.id)
    if imp.completed:
        fulfillments.create(
            session,
            {
                "sales_order_id": order.id,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [
                    {"sales_order_row_id": r.id} for r in sales.live_rows(session, order.id)
                ],
            },
            actor,
        )
    return order


def _rows(session: Session, imp: base.ImportedOrder) -> list[dict[str, Any]]:
    skus = {ln.sku for ln in imp.lines}
    found = dict(
        session.execute(
            select(Variant.sku, Variant.id).where(
                Variant.sku.in_(skus), Variant.deleted_at.is_(None)
            )
        ).all()
    )
    rows = []
    for i, ln in enumerate(imp.lines):
        path = f"line_items[{i}]" if imp.channel != "generic" else f"lines[{i}]"
        if ln.sku not in found:
            raise errors.refuse(
                errors.MISSING,
                f"Unknown SKU '{ln.sku}' on line {i + 1}: "
                "create a variant with that SKU (or fix the SKU in the "
                "store), then send the order again.",
                path=f"{path}.sku",
                sku=ln.sku,
            )
        if ln.quantity <= 0:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                f"Line {i + 1} ({ln.sku}) has quantity {ln.quantity}: quantities must be above 0.",
                path=f"{path}.quantity",
            )
        rows.append(
            {
                "variant_id": found[ln.sku],
                "quantity": ln.quantity,
                "price_per_unit": ln.price_per_unit,
            }
        )
    return rows


def _customer(session: Session, imp: base.ImportedOrder) -> Customer:
    if imp.customer_email:
        c = session.scalar(
            select(Customer)
            .where(
                func.lower(Customer.email) == imp.customer_email.lower(),
                Customer.deleted_at.is_(None),
            )
            .order_by(Customer.id)
            .limit(1)
        )
        if c is not None:
            return c
    c = session.scalar(
        select(Customer)
        .where(
            Customer.name == imp.customer_name,
            Customer.email.is_(None),
            Customer.deleted_at.is_(None),
        )
        .limit(1)
    )
    if c is not None and not imp.customer_email:
        return c
    return catalog.save_customer(
        session,
        None,
        {
            "name": imp.customer_name[:255],
            "email": imp.customer_email,
            "phone": imp.customer_phone,
            "addresses": [
                {k: v for k, v in asdict(a).items() if v is not None} for a in imp.addresses
            ],
        },
    )


def _note(imp: base.ImportedOrder) -> str:
    return (
        f"Imported from {imp.channel} order {imp.name or imp.external_id} "
        f"(store status: {imp.store_status or 'unknown'})."
    )


def import_many(session: Session, channel: str, payloads: list[Any], actor: str) -> tuple[int, int]:
    """A file of orders in one transaction: all or nothing. Returns (created, existing)."""
    created = existing = 0
    for i, p in enumerate(payloads):
        try:
            _, new = import_order(session, channel, p, actor)
        except errors.TracelotError as exc:
            raise errors.refuse(
                exc.code,
                f"Order {i + 1} of the file: {exc.message}",
                path=f"[{i}].{exc.details[0].path}",
            ) from None
        created, existing = created + new, existing + (not new)
    return created, existing


def read_orders_file(text: str) -> list[Any]:
    """A file of many orders: a JSON array, ``{"orders": [...]}``, or one JSON object a line."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                f"The file is not JSON (line "
                f"{exc.lineno}): give a JSON array of orders or one order "
                "per line.",
                path="",
            ) from None
    if isinstance(data, dict) and isinstance(data.get("orders"), list):
        return list(data["orders"])
    return data if isinstance(data, list) else [data]

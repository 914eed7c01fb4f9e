"""What a ledger entry's document was: order numbers, customers, suppliers, MOs.

The ledger knows a resource type and id per entry; tracing answers need the
human side (order SO-12 to ACME, ship-to address; PO-7 from the supplier).
Each resource type has one resolver that answers for many ids in one or two
queries. Document modules that are not part of the foundation (sales,
purchasing, manufacturing) are resolved when their tables exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Customer,
    Location,
    StockAdjustment,
    StockAdjustmentRow,
    StockTransfer,
    StockTransferRow,
    Supplier,
)
from tracelot.db.models.manufacturing import ManufacturingOrder, Production, ProductionIngredient
from tracelot.db.models.purchasing import PurchaseOrder, PurchaseOrderRow

Resolver = Callable[[Session, list[int]], dict[int, dict[str, Any]]]
RESOLVERS: dict[str, Resolver] = {}


def register(resource_type: str) -> Callable[[Resolver], Resolver]:
    def wrap(fn: Resolver) -> Resolver:
        RESOLVERS[resource_type] = fn
        return fn

    return wrap


def describe(
    session: Session, refs: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    by_type: dict[str, set[int]] = {}
    for rtype, rid in refs:
        by_type.setdefault(rtype, set()).add(rid)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for rtype, ids in by_type.items():
        fn = RESOLVERS.get(rtype)
        if fn is not None:
            for rid, info in fn(session, sorted(ids)).items():
                out[(rtype, rid)] = info
    return out


def enrich(session: Session, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add document context and location names to shipment/origin events, in place."""
    context = describe(session, {(e["resource_type"], e["resource_id"]) for e in events})
    for e in events:
        info = context.get((e["resource_type"], e["resource_id"]), {})
        for k, v in info.items():
            if v is not None and (e.get(k) is None or k not in ("document", "order_no")):
                e[k] = v
    return enrich_locations(session, events)


def enrich_locations(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each row's location name (one query for all rows)."""
    ids = {r["location_id"] for r in rows if r.get("location_id")}
    names = (
        dict(session.execute(select(Location.id, Location.name).where(Location.id.in_(ids))).all())
        if ids
        else {}
    )
    for r in rows:
        r["location"] = names.get(r.get("location_id"))
    return rows


@register("StockAdjustmentRow")
def _adjustments(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(StockAdjustmentRow.id, StockAdjustment)
        .join(StockAdjustment, StockAdjustment.id == StockAdjustmentRow.stock_adjustment_id)
        .where(StockAdjustmentRow.id.in_(ids))
    ).all()
    return {
        rid: {
            "document": a.stock_adjustment_number,
            "document_type": "stock_adjustment",
            "document_id": a.id,
            "adjustment_reason": a.reason,
        }
        for rid, a in rows
    }


@register("StockTransferRow")
def _transfers(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(StockTransferRow.id, StockTransfer)
        .join(StockTransfer, StockTransfer.id == StockTransferRow.stock_transfer_id)
        .where(StockTransferRow.id.in_(ids))
    ).all()
    return {
        rid: {
            "document": t.stock_transfer_number,
            "document_type": "stock_transfer",
            "document_id": t.id,
        }
        for rid, t in rows
    }


@register("PurchaseOrderRow")
def _purchases(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(PurchaseOrderRow.id, PurchaseOrder, Supplier)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderRow.purchase_order_id)
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .where(PurchaseOrderRow.id.in_(ids))
    ).all()
    return {
        rid: {
            "document": po.order_no,
            "order_no": po.order_no,
            "document_type": "purchase_order",
            "document_id": po.id,
            "supplier_id": sup.id,
            "supplier": sup.name,
            "supplier_phone": sup.phone,
            "supplier_email": sup.email,
            "supplier_gln": sup.gln,
            "supplier_address": _address(sup),
        }
        for rid, po, sup in rows
    }


def _mo_context(
    session: Session, ids: list[int], via_ingredient: bool
) -> dict[int, dict[str, Any]]:
    key = ProductionIngredient.id if via_ingredient else Production.id
    q = select(key, ManufacturingOrder).select_from(Production)
    if via_ingredient:
        q = q.join(ProductionIngredient, ProductionIngredient.production_id == Production.id)
    q = q.join(ManufacturingOrder, ManufacturingOrder.id == Production.manufacturing_order_id)
    return {
        rid: {
            "document": mo.order_no,
            "document_type": "manufacturing_order",
            "document_id": mo.id,
            "manufacturing_order_id": mo.id,
            "manufacturing_order_no": mo.order_no,
        }
        for rid, mo in session.execute(q.where(key.in_(ids))).all()
    }


@register("Production")
def _productions(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    return _mo_context(session, ids, via_ingredient=False)


@register("ProductionIngredient")
def _ingredients(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    return _mo_context(session, ids, via_ingredient=True)


def _address(party: Any) -> str | None:
    parts = [
        getattr(party, k, None) for k in ("line_1", "line_2", "city", "state", "zip", "country")
    ]
    text = ", ".join(p for p in parts if p)
    return text or None


def _sales(session: Session, ids: list[int], fulfilment: bool) -> dict[int, dict[str, Any]]:
    from tracelot.db.models.sales import (
        SalesOrder,
        SalesOrderFulfillment,
        SalesOrderFulfillmentRow,
        SalesOrderRow,
    )

    if fulfilment:
        q = (
            select(SalesOrderFulfillmentRow.id, SalesOrder, SalesOrderFulfillment.id)
            .join(
                SalesOrderFulfillment,
                SalesOrderFulfillment.id == SalesOrderFulfillmentRow.fulfillment_id,
            )
            .join(SalesOrder, SalesOrder.id == SalesOrderFulfillment.sales_order_id)
            .where(SalesOrderFulfillmentRow.id.in_(ids))
        )
    else:
        q = (
            select(SalesOrderRow.id, SalesOrder, SalesOrderRow.id)
            .join(SalesOrder, SalesOrder.id == SalesOrderRow.sales_order_id)
            .where(SalesOrderRow.id.in_(ids))
        )
    rows = session.execute(q).all()
    customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(Customer.id.in_({so.customer_id for _, so, _ in rows}))
        )
    }
    out = {}
    for rid, so, fid in rows:
        c = customers.get(so.customer_id)
        ship = next((a for a in (c.addresses if c else []) if a.entity_type == "shipping"), None)
        out[rid] = {
            "document": so.order_no,
            "order_no": so.order_no,
            "document_type": "sales_order",
            "document_id": so.id,
            "sales_order_id": so.id,
            "fulfillment_id": fid if fulfilment else None,
            "customer_id": so.customer_id,
            "customer": c.name if c else None,
            "customer_email": c.email if c else None,
            "customer_phone": (c.phone or (ship.phone if ship else None)) if c else None,
            "ship_to": _address(ship) if ship else None,
            "ship_to_company": (ship.company if ship else None) or (c.company if c else None),
            "ship_to_gln": ship.gln if ship else None,
        }
    return out


@register("SalesOrderFulfillmentRow")
def _fulfilment_rows(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    return _sales(session, ids, fulfilment=True)


@register("SalesOrderRow")
def _order_rows(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    return _sales(session, ids, fulfilment=False)

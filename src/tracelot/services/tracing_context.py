"""What a ledger entry's document was: order numbers, customers, suppliers, MOs.

The ledger knows a resource type and id per entry; tracing answers need the
human side (order SO-12 to ACME, ship-to address; PO-7 from the supplier).
Each resource type has one resolver that answers for many ids in one or two
queries. Document modules that are not part of the foundation (sales,
purchasing, manufacturing) are resolved when their tables exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Customer,
    CustomerAddress,
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


def ids_in(session: Session, column: Any, ids: Collection[int]) -> Any:
    """``column IN ids`` as ONE bound value, however many ids: a JSON array read by
    ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL. A list of thousands
    of ``?`` made SQLite's planner scan a whole table per id (9 s for 5,000 shipments),
    and one parameter keeps the statement text (and its cache entry) the same."""
    values = sorted({int(i) for i in ids})
    if session.get_bind().dialect.name == "sqlite":
        each = func.json_each(json.dumps(values)).table_valued("value")
        return column.in_(select(each.c.value))
    return column == any_(bindparam(None, values, type_=ARRAY(BigInteger)))


def rows(session: Session, stmt: Any) -> list[Any]:
    """Plain rows through the session's connection, skipping the ORM's result machinery
    (a third of a large trace's time). Flushes first, as ``session.execute`` would."""
    session.flush()
    return list(session.connection().execute(stmt).all())


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
    )  # locations are few: a plain IN list
    for r in rows:
        r["location"] = names.get(r.get("location_id") or 0)
    return rows


@register("StockAdjustmentRow")
def _adjustments(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    a = StockAdjustment
    q = (
        select(StockAdjustmentRow.id, a.id, a.stock_adjustment_number, a.reason)
        .join(a, a.id == StockAdjustmentRow.stock_adjustment_id)
        .where(ids_in(session, StockAdjustmentRow.id, ids))
    )
    return {
        rid: {
            "document": number,
            "document_type": "stock_adjustment",
            "document_id": doc_id,
            "adjustment_reason": reason,
        }
        for rid, doc_id, number, reason in rows(session, q)
    }


@register("StockTransferRow")
def _transfers(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    t = StockTransfer
    q = (
        select(StockTransferRow.id, t.id, t.stock_transfer_number)
        .join(t, t.id == StockTransferRow.stock_transfer_id)
        .where(ids_in(session, StockTransferRow.id, ids))
    )
    return {
        rid: {"document": number, "document_type": "stock_transfer", "document_id": doc_id}
        for rid, doc_id, number in rows(session, q)
    }


@register("PurchaseOrderRow")
def _purchases(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    sup_cols = [
        getattr(Supplier, c)
        for c in ("id", "name", "phone", "email", "gln", "line_1", "city", "state", "zip")
    ]
    found = rows(
        session,
        select(PurchaseOrderRow.id, PurchaseOrder.id, PurchaseOrder.order_no, *sup_cols)
        .add_columns(Supplier.country)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderRow.purchase_order_id)
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .where(ids_in(session, PurchaseOrderRow.id, ids)),
    )
    return {
        r[0]: {
            "document": r.order_no,
            "order_no": r.order_no,
            "document_type": "purchase_order",
            "document_id": r[1],
            "supplier_id": r[3],
            "supplier": r.name,
            "supplier_phone": r.phone,
            "supplier_email": r.email,
            "supplier_gln": r.gln,
            "supplier_address": _address(r),
        }
        for r in found
    }


def _mo_context(
    session: Session, ids: list[int], via_ingredient: bool
) -> dict[int, dict[str, Any]]:
    key = ProductionIngredient.id if via_ingredient else Production.id
    mo = ManufacturingOrder
    q = select(key, mo.id, mo.order_no).select_from(Production)
    if via_ingredient:
        q = q.join(ProductionIngredient, ProductionIngredient.production_id == Production.id)
    q = q.join(mo, mo.id == Production.manufacturing_order_id)
    return {
        rid: {
            "document": order_no,
            "document_type": "manufacturing_order",
            "document_id": mo_id,
            "manufacturing_order_id": mo_id,
            "manufacturing_order_no": order_no,
        }
        for rid, mo_id, order_no in rows(session, q.where(ids_in(session, key, ids)))
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

    so_cols = (SalesOrder.id, SalesOrder.order_no, SalesOrder.customer_id)
    if fulfilment:
        q = (
            select(SalesOrderFulfillmentRow.id.label("rid"), *so_cols, SalesOrderFulfillment.id)
            .join(
                SalesOrderFulfillment,
                SalesOrderFulfillment.id == SalesOrderFulfillmentRow.fulfillment_id,
            )
            .join(SalesOrder, SalesOrder.id == SalesOrderFulfillment.sales_order_id)
            .where(ids_in(session, SalesOrderFulfillmentRow.id, ids))
        )
    else:
        q = (
            select(SalesOrderRow.id.label("rid"), *so_cols, SalesOrderRow.id)
            .join(SalesOrder, SalesOrder.id == SalesOrderRow.sales_order_id)
            .where(ids_in(session, SalesOrderRow.id, ids))
        )
    found = rows(session, q)
    customers = _customers(session, {r[3] for r in found})
    out = {}
    for rid, so_id, order_no, customer_id, fid in found:
        c, ship = customers.get(customer_id, (None, None))
        out[rid] = {
            "document": order_no,
            "order_no": order_no,
            "document_type": "sales_order",
            "document_id": so_id,
            "sales_order_id": so_id,
            "fulfillment_id": fid if fulfilment else None,
            "customer_id": customer_id,
            "customer": c.name if c else None,
            "customer_email": c.email if c else None,
            "customer_phone": (c.phone or (ship.phone if ship else None)) if c else None,
            "ship_to": _address(ship) if ship else None,
            "ship_to_company": (ship.company if ship else None) or (c.company if c else None),
            "ship_to_gln": ship.gln if ship else None,
        }
    return out


def _customers(session: Session, ids: set[int]) -> dict[int, tuple[Any, Any]]:
    """Customer contact columns and the first shipping address, one query for any number
    of customers (loading Customer objects pulled every address, 500 customers a query)."""
    if not ids:
        return {}
    c, a = Customer, CustomerAddress
    q = (
        select(c.id, c.name, c.email, c.phone, c.company, a.id.label("address_id"))
        .add_columns(a.phone, a.company, a.gln, a.line_1, a.line_2, a.city, a.state, a.zip)
        .add_columns(a.country)
        .outerjoin(a, (a.customer_id == c.id) & (a.entity_type == "shipping"))
        .where(ids_in(session, c.id, ids))
        .order_by(c.id, a.id)
    )
    out: dict[int, tuple[Any, Any]] = {}
    for r in rows(session, q):
        if r[0] not in out:
            contact = SimpleNamespace(name=r[1], email=r[2], phone=r[3], company=r[4])
            ship = (
                None
                if r.address_id is None
                else SimpleNamespace(
                    phone=r[6],
                    company=r[7],
                    gln=r[8],
                    line_1=r[9],
                    line_2=r[10],
                    city=r[11],
                    state=r[12],
                    zip=r[13],
                    country=r[14],
                )
            )
            out[r[0]] = (contact, ship)
    return out


@register("SalesOrderFulfillmentRow")
def _fulfilment_rows(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    return _sales(session, ids, fulfilment=True)


@register("SalesOrderRow")
def _order_rows(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    return _sales(session, ids, fulfilment=False)

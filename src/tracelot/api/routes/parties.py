"""Locations, customers and suppliers."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import select

from tracelot.api import out
from tracelot.api.deps import Db, Paging, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import CustomerIn, LocationIn, SupplierIn
from tracelot.db.base import utcnow
from tracelot.db.models import Customer, Location, Supplier
from tracelot.domain import errors
from tracelot.services import catalog
from tracelot.services.common import get

router = api_router("parties")


def _require_name(data: dict[str, Any]) -> None:
    if not data.get("name"):
        raise errors.refuse(errors.VALIDATION_FAILED, "name is required.", path="name")


@router.get("/locations", dependencies=[allow_filters("name", "is_primary")])
def list_locations(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    name: str | None = None,
    is_primary: bool | None = None,
) -> dict[str, Any]:
    q = common_filters(select(Location).order_by(Location.id.desc()), Location, request)
    if name:
        q = q.where(Location.name == name)
    if is_primary is not None:
        q = q.where(Location.is_primary.is_(is_primary))
    return {"data": [out.location(x) for x in paginate(db, q, paging, response)]}


@router.get("/locations/{location_id}")
def get_location(location_id: int, db: Db) -> dict[str, Any]:
    return out.location(get(db, Location, location_id))


@router.post("/locations")
def create_location(body: LocationIn, db: Db) -> dict[str, Any]:
    data = body.sent()
    _require_name(data)
    return out.location(catalog.save_location(db, None, data))


@router.patch("/locations/{location_id}")
def update_location(location_id: int, body: LocationIn, db: Db) -> dict[str, Any]:
    return out.location(catalog.save_location(db, get(db, Location, location_id), body.sent()))


@router.get("/customers", dependencies=[allow_filters("name", "email", "reference_id")])
def list_customers(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    name: str | None = None,
    email: str | None = None,
    reference_id: str | None = None,
) -> dict[str, Any]:
    q = common_filters(select(Customer).order_by(Customer.id.desc()), Customer, request)
    for col, val in (
        (Customer.name, name),
        (Customer.email, email),
        (Customer.reference_id, reference_id),
    ):
        if val:
            q = q.where(col == val)
    return {"data": [out.customer(x) for x in paginate(db, q, paging, response)]}


@router.get("/customers/{customer_id}")
def get_customer(customer_id: int, db: Db) -> dict[str, Any]:
    return out.customer(get(db, Customer, customer_id))


@router.post("/customers")
def create_customer(body: CustomerIn, db: Db) -> dict[str, Any]:
    data = body.sent()
    _require_name(data)
    return out.customer(catalog.save_customer(db, None, data))


@router.patch("/customers/{customer_id}")
def update_customer(customer_id: int, body: CustomerIn, db: Db) -> dict[str, Any]:
    return out.customer(catalog.save_customer(db, get(db, Customer, customer_id), body.sent()))


@router.delete("/customers/{customer_id}", status_code=204)
def delete_customer(customer_id: int, db: Db) -> Response:
    get(db, Customer, customer_id).deleted_at = utcnow()
    return Response(status_code=204)


@router.get("/suppliers", dependencies=[allow_filters("name", "email")])
def list_suppliers(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    name: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    q = common_filters(select(Supplier).order_by(Supplier.id.desc()), Supplier, request)
    if name:
        q = q.where(Supplier.name == name)
    if email:
        q = q.where(Supplier.email == email)
    return {"data": [out.supplier(x) for x in paginate(db, q, paging, response)]}


@router.get("/suppliers/{supplier_id}")
def get_supplier(supplier_id: int, db: Db) -> dict[str, Any]:
    return out.supplier(get(db, Supplier, supplier_id))


@router.post("/suppliers")
def create_supplier(body: SupplierIn, db: Db) -> dict[str, Any]:
    data = body.sent()
    _require_name(data)
    return out.supplier(catalog.save_supplier(db, None, data))


@router.patch("/suppliers/{supplier_id}")
def update_supplier(supplier_id: int, body: SupplierIn, db: Db) -> dict[str, Any]:
    return out.supplier(catalog.save_supplier(db, get(db, Supplier, supplier_id), body.sent()))

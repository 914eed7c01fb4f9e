"""Items (products and materials), their variants, locations, customers, suppliers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import Customer, CustomerAddress, Item, Location, Stock, Supplier, Variant
from tracelot.domain import errors
from tracelot.domain.tracking import Tracking, from_flags
from tracelot.services import tracking
from tracelot.services.common import apply, get

ITEM_FIELDS = {
    "name",
    "uom",
    "category_name",
    "is_sellable",
    "is_producible",
    "is_purchasable",
    "is_archived",
    "additional_info",
    "serial_pattern",
}
VARIANT_FIELDS = {
    "sku",
    "sales_price",
    "purchase_price",
    "internal_barcode",
    "registered_barcode",
    "gtin",
    "supplier_item_codes",
}


def create_item(session: Session, item_type: str, data: dict[str, Any]) -> Item:
    """Create a product or material with its variants; tracking from flags or ``tracking``."""
    wanted = Tracking(data.get("tracking") or "none")
    wanted = from_flags(data.get("batch_tracked"), data.get("serial_tracked"), wanted)
    item = Item(type=item_type, tracking=str(wanted))
    apply(item, data, ITEM_FIELDS)
    session.add(item)
    session.flush()
    for i, v in enumerate(data.get("variants") or [{}]):
        add_variant(session, item, v, path=f"variants[{i}]")
    return item


def update_item(session: Session, item: Item, data: dict[str, Any], actor: str) -> Item:
    """PATCH an item: only sent keys change; a tracking change follows SPEC §1."""
    if {"batch_tracked", "serial_tracked", "tracking"} & data.keys():
        current = Tracking(item.tracking)
        wanted = Tracking(data["tracking"]) if data.get("tracking") else current
        wanted = from_flags(data.get("batch_tracked"), data.get("serial_tracked"), wanted)
        tracking.change(
            session, item, wanted, confirmed=bool(data.get("confirm_remove_tracking")), actor=actor
        )
    apply(item, data, ITEM_FIELDS)
    item.updated_at = utcnow()
    session.flush()
    return item


def delete_item(session: Session, item: Item) -> None:
    if _has_stock(session, [v.id for v in item.variants]):
        raise errors.refuse(
            errors.IN_USE,
            f"'{item.name}' still has stock: adjust it out or archive the item instead.",
            path="id",
        )
    now = utcnow()
    item.deleted_at = now
    for v in item.variants:
        v.deleted_at, v.sku = now, None


def _codes(data: dict[str, Any]) -> dict[str, Any]:
    codes = data.get("supplier_item_codes")
    if isinstance(codes, list):
        data = {**data, "supplier_item_codes": ",".join(codes)}
    return data


def add_variant(session: Session, item: Item, data: dict[str, Any], path: str = "") -> Variant:
    data = _codes(data)
    _check_gtin(data.get("gtin"), path)
    _check_sku_free(session, data.get("sku"), None, path)
    variant = Variant(item=item)
    apply(variant, data, VARIANT_FIELDS)
    session.add(variant)
    session.flush()
    return variant


def update_variant(session: Session, variant: Variant, data: dict[str, Any]) -> Variant:
    if "sku" in data:
        _check_sku_free(session, data["sku"], variant.id, "sku")
    _check_gtin(data.get("gtin"), "")
    apply(variant, _codes(data), VARIANT_FIELDS)
    variant.updated_at = utcnow()
    session.flush()
    return variant


def delete_variant(session: Session, variant: Variant) -> None:
    if _has_stock(session, [variant.id]):
        raise errors.refuse(errors.IN_USE, f"Variant {variant.sku} still has stock.", path="id")
    variant.deleted_at, variant.sku = utcnow(), None


def _check_sku_free(session: Session, sku: str | None, own_id: int | None, path: str) -> None:
    if not sku:
        return
    other = session.scalar(select(Variant.id).where(Variant.sku == sku))
    if other is not None and other != own_id:
        raise errors.refuse(
            errors.DUPLICATE,
            f"SKU '{sku}' is already used by variant {other}: choose another SKU.",
            path=f"{path}.sku".lstrip("."),
        )


def _check_gtin(gtin: str | None, path: str) -> None:
    if not gtin:
        return
    from stdnum import ean

    if not ean.is_valid(gtin) or len(gtin) not in (8, 12, 13, 14):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"GTIN '{gtin}' is not a valid GTIN-8, -12, -13 or -14 (check digit included).",
            path=f"{path}.gtin".lstrip("."),
        )


def _has_stock(session: Session, variant_ids: list[int]) -> bool:
    total = session.scalar(
        select(func.coalesce(func.sum(func.abs(Stock.quantity)), 0)).where(
            Stock.variant_id.in_(variant_ids)
        )
    )
    return bool(total)


# --- locations, customers, suppliers -------------------------------------------------

LOCATION_FIELDS = {
    "name",
    "legal_name",
    "is_primary",
    "sales_allowed",
    "purchase_allowed",
    "manufacturing_allowed",
    "line_1",
    "line_2",
    "city",
    "state",
    "zip",
    "country",
    "phone",
    "gln",
}


def save_location(session: Session, loc: Location | None, data: dict[str, Any]) -> Location:
    loc = loc or Location()
    apply(loc, data, LOCATION_FIELDS)
    if data.get("is_primary"):
        for other in session.scalars(select(Location).where(Location.is_primary.is_(True))):
            other.is_primary = False
        loc.is_primary = True
    elif session.scalar(select(func.count()).select_from(Location)) == 0:
        loc.is_primary = True
    session.add(loc)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise errors.refuse(
            errors.DUPLICATE, f"A location named '{loc.name}' exists already.", path="name"
        ) from None
    return loc


CUSTOMER_FIELDS = {
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "currency",
    "reference_id",
    "comment",
}
ADDRESS_FIELDS = {
    "entity_type",
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
    "gln",
}


def save_customer(session: Session, cust: Customer | None, data: dict[str, Any]) -> Customer:
    cust = cust or Customer()
    apply(cust, data, CUSTOMER_FIELDS)
    if "addresses" in data:
        cust.addresses = []
        for a in data["addresses"] or []:
            addr = CustomerAddress()
            apply(addr, a, ADDRESS_FIELDS)
            cust.addresses.append(addr)
    session.add(cust)
    session.flush()
    return cust


SUPPLIER_FIELDS = {
    "name",
    "email",
    "phone",
    "currency",
    "comment",
    "line_1",
    "city",
    "state",
    "zip",
    "country",
    "gln",
}


def save_supplier(session: Session, sup: Supplier | None, data: dict[str, Any]) -> Supplier:
    sup = sup or Supplier()
    apply(sup, data, SUPPLIER_FIELDS)
    session.add(sup)
    session.flush()
    return sup


def get_item(session: Session, item_id: int, item_type: str | None = None) -> Item:
    item = get(session, Item, item_id, "Product" if item_type == "product" else "Item")
    if item_type and item.type != item_type:
        raise errors.NotFound(item_type.capitalize(), item_id)
    return item

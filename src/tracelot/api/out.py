"""Response shapes of the catalog, stock and serial objects (KATANA_API.md §2)."""

from __future__ import annotations

from typing import Any

from tracelot.api.serialize import clean, dec, iso
from tracelot.db.models import Batch, Customer, Item, Location, Supplier, Variant


def variant(v: Variant, *, embed_item: bool = False) -> dict[str, Any]:
    item = v.item
    out = clean(
        {
            "id": v.id,
            "type": item.type,
            "sales_price": _num(v.sales_price),
            "purchase_price": _num(v.purchase_price),
            "internal_barcode": v.internal_barcode,
            "registered_barcode": v.registered_barcode,
            "gtin": v.gtin,
            f"{item.type}_id": item.id,
            "config_attributes": [],
            "supplier_item_codes": [c for c in (v.supplier_item_codes or "").split(",") if c],
            "created_at": iso(v.created_at),
            "updated_at": iso(v.updated_at),
            "deleted_at": iso(v.deleted_at),
            "batch_tracked": item.tracking == "batch",
            "serial_tracked": item.tracking == "serial",
        }
    )
    out["sku"] = v.sku
    if embed_item:
        out["product_or_material"] = item_out(item, with_variants=False)
    return out


def item_out(item: Item, *, with_variants: bool = True) -> dict[str, Any]:
    out = clean(
        {
            "id": item.id,
            "name": item.name,
            "type": item.type,
            "uom": item.uom,
            "category_name": item.category_name,
            "is_sellable": item.is_sellable,
            "is_producible": item.is_producible,
            "is_purchasable": item.is_purchasable,
            "is_archived": item.is_archived,
            "additional_info": item.additional_info,
            "batch_tracked": item.tracking == "batch",
            "serial_tracked": item.tracking == "serial",
            "tracking": item.tracking,
            "serial_pattern": item.serial_pattern,
            "created_at": iso(item.created_at),
            "updated_at": iso(item.updated_at),
            "deleted_at": iso(item.deleted_at),
            "configs": [],
        }
    )
    if with_variants:
        out["variants"] = [variant(v) for v in item.variants if v.deleted_at is None]
    return out


def location(loc: Location) -> dict[str, Any]:
    out = clean(
        {
            "id": loc.id,
            "name": loc.name,
            "legal_name": loc.legal_name,
            "is_primary": loc.is_primary,
            "sales_allowed": loc.sales_allowed,
            "purchase_allowed": loc.purchase_allowed,
            "manufacturing_allowed": loc.manufacturing_allowed,
            "phone": loc.phone,
            "gln": loc.gln,
            "created_at": iso(loc.created_at),
            "updated_at": iso(loc.updated_at),
            "deleted_at": iso(loc.deleted_at),
        }
    )
    if loc.line_1 or loc.city:
        out["address"] = {
            "id": loc.id,
            "city": loc.city or "",
            "country": loc.country or "",
            "line_1": loc.line_1 or "",
            "line_2": loc.line_2,
            "state": loc.state or "",
            "zip": loc.zip or "",
        }
    return out


def customer(c: Customer) -> dict[str, Any]:
    return clean(
        {
            "id": c.id,
            "name": c.name,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "email": c.email,
            "phone": c.phone,
            "company": c.company,
            "currency": c.currency,
            "reference_id": c.reference_id,
            "comment": c.comment,
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at),
            "deleted_at": iso(c.deleted_at),
            "addresses": [
                {
                    "id": a.id,
                    "customer_id": c.id,
                    "entity_type": a.entity_type,
                    "first_name": a.first_name,
                    "last_name": a.last_name,
                    "company": a.company,
                    "phone": a.phone,
                    "line_1": a.line_1,
                    "line_2": a.line_2,
                    "city": a.city,
                    "state": a.state,
                    "zip": a.zip,
                    "country": a.country,
                    "gln": a.gln,
                    "created_at": iso(a.created_at),
                    "updated_at": iso(a.updated_at),
                }
                for a in c.addresses
            ],
        }
    )


def supplier(s: Supplier) -> dict[str, Any]:
    return clean(
        {
            "id": s.id,
            "name": s.name,
            "email": s.email,
            "phone": s.phone,
            "currency": s.currency,
            "comment": s.comment,
            "gln": s.gln,
            "created_at": iso(s.created_at),
            "updated_at": iso(s.updated_at),
            "deleted_at": iso(s.deleted_at),
            "addresses": [],
        }
    )


def batch(b: Batch) -> dict[str, Any]:
    return clean(
        {
            "id": b.id,
            "batch_number": b.batch_number,
            "variant_id": b.variant_id,
            "expiration_date": iso(_as_datetime(b.expiration_date)),
            "batch_created_date": iso(b.batch_created_date or b.created_at),
            "batch_barcode": b.batch_barcode,
            "supplier_lot": b.supplier_lot,
            "hold_reason": b.hold_reason,
            "created_at": iso(b.created_at),
            "updated_at": iso(b.updated_at),
        }
    )


def _as_datetime(d: Any) -> Any:
    """Katana sends expiry as a date-time at midnight UTC."""
    from datetime import UTC, datetime

    return datetime(d.year, d.month, d.day, tzinfo=UTC) if d else None


def _num(value: Any) -> float | None:
    return float(value) if value is not None else None


__all__ = ["batch", "customer", "dec", "item_out", "location", "supplier", "variant"]

"""Products, materials and variants (Katana's catalog endpoints)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import select

from tracelot.api import out
from tracelot.api.deps import Db, Paging, Who, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import ItemCreate, ItemUpdate, VariantCreate, VariantIn
from tracelot.db.models import Item, Variant
from tracelot.domain import errors
from tracelot.services import catalog
from tracelot.services.common import get

router = api_router("catalog")


def _items_router(kind: str) -> None:
    path = f"/{kind}s"

    @router.get(
        path,
        dependencies=[
            allow_filters(
                "name", "batch_tracked", "serial_tracked", "include_archived", "uom", "is_sellable"
            )
        ],
        name=f"list_{kind}s",
    )
    def list_items(
        request: Request,
        response: Response,
        db: Db,
        paging: Paging,
        name: str | None = None,
        batch_tracked: bool | None = None,
        serial_tracked: bool | None = None,
        include_archived: bool = False,
    ) -> dict[str, Any]:
        q = select(Item).where(Item.type == kind).order_by(Item.id.desc())
        q = common_filters(q, Item, request)
        if name:
            q = q.where(Item.name == name)
        if batch_tracked is not None:
            q = q.where((Item.tracking == "batch") == batch_tracked)
        if serial_tracked is not None:
            q = q.where((Item.tracking == "serial") == serial_tracked)
        if not include_archived:
            q = q.where(Item.is_archived.is_(False))
        return {"data": [out.item_out(i) for i in paginate(db, q, paging, response)]}

    @router.get(path + "/{item_id}", name=f"get_{kind}")
    def get_item(item_id: int, db: Db) -> dict[str, Any]:
        return out.item_out(catalog.get_item(db, item_id, kind))

    @router.post(path, name=f"create_{kind}")
    def create_item(body: ItemCreate, db: Db) -> dict[str, Any]:
        return out.item_out(
            catalog.create_item(
                db, kind, body.sent() | {"variants": [v.sent() for v in body.variants]}
            )
        )

    @router.patch(path + "/{item_id}", name=f"update_{kind}")
    def update_item(item_id: int, body: ItemUpdate, db: Db, who: Who) -> dict[str, Any]:
        item = catalog.get_item(db, item_id, kind)
        return out.item_out(catalog.update_item(db, item, body.sent(), who.name))

    @router.delete(path + "/{item_id}", status_code=204, name=f"delete_{kind}")
    def delete_item(item_id: int, db: Db) -> Response:
        catalog.delete_item(db, catalog.get_item(db, item_id, kind))
        return Response(status_code=204)


_items_router("product")
_items_router("material")


@router.get("/variants", dependencies=[allow_filters("product_id", "material_id", "sku")])
def list_variants(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    product_id: int | None = None,
    material_id: int | None = None,
) -> dict[str, Any]:
    q = select(Variant).join(Item).order_by(Variant.id.desc())
    q = common_filters(q, Variant, request)
    if product_id:
        q = q.where(Variant.item_id == product_id, Item.type == "product")
    if material_id:
        q = q.where(Variant.item_id == material_id, Item.type == "material")
    skus = request.query_params.getlist("sku")
    if skus:
        q = q.where(Variant.sku.in_(skus))
    rows = paginate(db, q, paging, response)
    return {"data": [out.variant(v, embed_item=True) for v in rows]}


@router.get("/variants/{variant_id}")
def get_variant(variant_id: int, db: Db) -> dict[str, Any]:
    return out.variant(get(db, Variant, variant_id), embed_item=True)


@router.post("/variants")
def create_variant(body: VariantCreate, db: Db) -> dict[str, Any]:
    item_id = body.product_id or body.material_id
    if not item_id:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Send product_id or material_id: the item the variant belongs to.",
            path="product_id",
        )
    kind = "product" if body.product_id else "material"
    item = catalog.get_item(db, item_id, kind)
    data = body.sent()
    return out.variant(catalog.add_variant(db, item, data))


@router.patch("/variants/{variant_id}")
def update_variant(variant_id: int, body: VariantIn, db: Db) -> dict[str, Any]:
    return out.variant(catalog.update_variant(db, get(db, Variant, variant_id), body.sent()))


@router.delete("/variants/{variant_id}", status_code=204)
def delete_variant(variant_id: int, db: Db) -> Response:
    catalog.delete_variant(db, get(db, Variant, variant_id))
    return Response(status_code=204)

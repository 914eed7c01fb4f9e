"""Recipes, manufacturing orders, recipe rows, productions and make-to-order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import Request, Response
from pydantic import Field
from sqlalchemy import select

from tracelot.api.deps import Db, Paging, Who, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import BatchTransactionIn, Day, Id, In, TraceabilityIn
from tracelot.api.serialize import clean, dec, iso
from tracelot.db.models import (
    BatchPick,
    ManufacturingOrder,
    ManufacturingOrderRecipeRow,
    Movement,
    Production,
    ProductionIngredient,
    RecipeRow,
    Serial,
    SerialTransaction,
    Variant,
)
from tracelot.services import manufacturing as mf
from tracelot.services.common import get

router = api_router("manufacturing")


# -- request bodies ------------------------------------------------------------------------


class RecipeRowIn(In):
    product_variant_id: Id
    ingredient_variant_id: Id
    quantity: Decimal = Field(gt=0)
    notes: str | None = None
    rank: int | None = None


class RecipeRowPatch(In):
    quantity: Decimal | None = Field(default=None, gt=0)
    notes: str | None = None
    rank: int | None = None


class MoIn(In):
    variant_id: Id
    location_id: Id
    planned_quantity: Decimal = Field(gt=0)
    order_no: str | None = Field(default=None, max_length=64)
    order_created_date: datetime | None = None
    production_deadline_date: datetime | None = None
    additional_info: str | None = None
    batch_transactions: list[BatchTransactionIn] = Field(default_factory=list)


class MoPatch(In):
    order_no: str | None = Field(default=None, max_length=64)
    planned_quantity: Decimal | None = Field(default=None, gt=0)
    production_deadline_date: datetime | None = None
    additional_info: str | None = None
    status: (
        Literal["NOT_STARTED", "BLOCKED", "IN_PROGRESS", "PARTIALLY_COMPLETED", "DONE"] | None
    ) = None


class MoRecipeRowIn(In):
    manufacturing_order_id: Id
    variant_id: Id
    planned_quantity_per_unit: Decimal | None = Field(default=None, gt=0)
    notes: str | None = None
    batch_transactions: list[BatchTransactionIn] | None = None
    traceability: list[TraceabilityIn] = Field(default_factory=list)


class MoRecipeRowPatch(In):
    planned_quantity_per_unit: Decimal | None = Field(default=None, gt=0)
    notes: str | None = None
    batch_transactions: list[BatchTransactionIn] | None = None
    traceability: list[TraceabilityIn] = Field(default_factory=list)


class OutputBatchIn(In):
    batch_id: Id | None = None
    batch_number: str | None = Field(default=None, max_length=64)
    expiration_date: Day | None = None
    batch_barcode: str | None = Field(default=None, max_length=40)


class IngredientIn(In):
    manufacturing_order_recipe_row_id: Id | None = None
    variant_id: Id | None = None
    batch_transactions: list[BatchTransactionIn] = Field(default_factory=list)
    serial_numbers: list[int] = Field(default_factory=list)
    traceability: list[TraceabilityIn] = Field(default_factory=list)


class ProductionIn(In):
    manufacturing_order_id: Id
    completed_quantity: Decimal = Field(gt=0)
    completed_date: datetime | None = None
    is_final: bool = False
    batch_transaction: OutputBatchIn | None = None
    serial_numbers: list[int] = Field(default_factory=list)
    new_serial_numbers: list[str] = Field(default_factory=list, max_length=100_000)
    traceability: list[TraceabilityIn] = Field(default_factory=list)
    ingredients: list[IngredientIn] = Field(default_factory=list)
    allow_expired: bool = False


class MakeToOrderIn(In):
    sales_order_row_id: float = Field(ge=1)  # Katana types it as a number
    create_subassemblies: bool = False


class UnlinkIn(In):
    sales_order_row_id: float = Field(ge=1)


# -- response shapes -----------------------------------------------------------------------


def recipe_row_out(db: Db, r: RecipeRow) -> dict[str, Any]:
    variant = db.get(Variant, r.product_variant_id)
    return clean(
        {
            "id": r.id,
            "product_variant_id": r.product_variant_id,
            "product_item_id": variant.item_id if variant else None,
            "ingredient_variant_id": r.ingredient_variant_id,
            "quantity": float(r.quantity),
            "notes": r.notes,
            "rank": r.rank,
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
        }
    )


def serial_link(s: Serial, t: SerialTransaction | None, rtype: str, rid: int) -> dict[str, Any]:
    return clean(
        {
            "id": s.id,
            "transaction_id": str(t.id) if t else None,
            "serial_number": s.serial_number,
            "resource_type": rtype,
            "resource_id": rid,
            "transaction_date": iso(t.transaction_date) if t else None,
            "quantity_change": t.quantity_change if t else 0,
        }
    )


def mo_out(db: Db, mo: ManufacturingOrder, status: str | None = None) -> dict[str, Any]:
    """The MO as Katana shapes it; ``status`` as of now (``mf.statuses``) unless given."""
    status = status or mf.statuses(db, [mo.id])[mo.id]
    prods = mf.active_productions(db, mo.id)
    made = mf.produced_serials(db, [p.id for p in prods])
    minted = mf.minted_serials(db, mo.id)
    batch_ids = [p.batch_id for p in prods if p.batch_id]
    picks = list(
        db.scalars(
            select(BatchPick).where(
                BatchPick.resource_type == mf.MO, BatchPick.resource_id == mo.id
            )
        )
    )
    batches = [{"batch_id": p.batch_id, "quantity": float(p.quantity)} for p in picks]
    for bid in dict.fromkeys(batch_ids):
        qty = sum(p.completed_quantity for p in prods if p.batch_id == bid)
        batches.append({"batch_id": bid, "quantity": float(qty)})
    return clean(
        {
            "id": mo.id,
            "status": status,
            "order_no": mo.order_no,
            "variant_id": mo.variant_id,
            "location_id": mo.location_id,
            "planned_quantity": float(mo.planned_quantity),
            "actual_quantity": float(mo.completed_quantity),
            "completed_quantity": float(mo.completed_quantity),
            "remaining_quantity": float(
                max(mo.planned_quantity - mo.completed_quantity, Decimal(0))
            ),
            "includes_partial_completions": len(prods) > 0,
            "order_created_date": iso(mo.order_created_date),
            "production_deadline_date": iso(mo.production_deadline_date),
            "done_date": iso(mo.done_date),
            "additional_info": mo.additional_info,
            "is_linked_to_sales_order": mo.sales_order_row_id is not None,
            "parent_manufacturing_order_id": mo.parent_manufacturing_order_id,
            "sales_order_id": mo.sales_order_id,
            "sales_order_row_id": mo.sales_order_row_id,
            "batch_transactions": batches,
            "serial_numbers": [serial_link(s, None, mf.MO, mo.id) for s in minted]
            + [serial_link(s, t, mf.PRODUCTION, pid) for pid, s, t in made],
            "created_at": iso(mo.created_at),
            "updated_at": iso(mo.updated_at),
            "deleted_at": iso(mo.deleted_at),
        }
    )


def mo_row_out(db: Db, r: ManufacturingOrderRecipeRow) -> dict[str, Any]:
    mo = db.get(ManufacturingOrder, r.manufacturing_order_id)
    assert mo is not None
    planned = r.planned_quantity_per_unit * mo.planned_quantity
    picks = db.scalars(
        select(BatchPick).where(
            BatchPick.resource_type == mf.RECIPE_ROW, BatchPick.resource_id == r.id
        )
    ).all()
    remaining = max(planned - r.consumed_quantity, Decimal(0))
    if remaining == 0:
        availability = "PROCESSED"
    elif mf._available(db, r.variant_id, mo.location_id) >= remaining:
        availability = "IN_STOCK"
    else:
        availability = "NOT_AVAILABLE"
    return clean(
        {
            "id": r.id,
            "manufacturing_order_id": r.manufacturing_order_id,
            "variant_id": r.variant_id,
            "notes": r.notes,
            "planned_quantity_per_unit": dec(r.planned_quantity_per_unit),
            "total_actual_quantity": dec(r.consumed_quantity),
            "total_consumed_quantity": float(r.consumed_quantity),
            "total_remaining_quantity": float(remaining),
            "ingredient_availability": availability,
            "batch_transactions": [
                {"batch_id": p.batch_id, "quantity": float(p.quantity)} for p in picks if p.batch_id
            ],
            "serial_numbers": mf.row_serials(db, r.id),
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
            "deleted_at": iso(r.deleted_at),
        }
    )


def production_out(db: Db, p: Production) -> dict[str, Any]:
    mo = db.get(ManufacturingOrder, p.manufacturing_order_id)
    assert mo is not None
    ings = db.scalars(
        select(ProductionIngredient)
        .where(ProductionIngredient.production_id == p.id)
        .order_by(ProductionIngredient.id)
    ).all()
    moves = db.execute(
        select(Movement.resource_id, Movement.batch_id, Movement.quantity).where(
            Movement.resource_type == mf.INGREDIENT,
            Movement.resource_id.in_([i.id for i in ings]),
            Movement.reason == "consumption",
        )
    ).all()
    made = mf.produced_serials(db, [p.id])
    return clean(
        {
            "id": p.id,
            "manufacturing_order_id": p.manufacturing_order_id,
            "quantity": float(p.completed_quantity),
            "completed_quantity": float(p.completed_quantity),
            "production_date": iso(p.completed_date),
            "is_final": p.is_final,
            "batch_transaction": {"batch_id": p.batch_id} if p.batch_id else None,
            "ingredients": [
                {
                    "id": i.id,
                    "location_id": mo.location_id,
                    "variant_id": i.variant_id,
                    "manufacturing_order_id": mo.id,
                    "manufacturing_order_recipe_row_id": i.recipe_row_id,
                    "production_id": p.id,
                    "quantity": float(i.quantity),
                    "production_date": iso(p.completed_date),
                    "batch_transactions": [
                        {"batch_id": m.batch_id, "quantity": float(-m.quantity)}
                        for m in moves
                        if m.resource_id == i.id and m.batch_id
                    ],
                    "created_at": iso(p.created_at),
                    "updated_at": iso(p.updated_at),
                }
                for i in ings
            ],
            "operations": [],
            "serial_numbers": [serial_link(s, t, mf.PRODUCTION, p.id) for _, s, t in made],
            "created_at": iso(p.created_at),
            "updated_at": iso(p.updated_at),
            "deleted_at": iso(p.deleted_at),
        }
    )


# -- recipes (tracelot: integer ids; Katana's /bom_rows uses UUIDs) ------------------------


@router.post("/recipe_rows")
def create_recipe_row(body: RecipeRowIn, db: Db) -> dict[str, Any]:
    """One ingredient line of a product variant's recipe (bill of materials)."""
    return recipe_row_out(db, mf.save_recipe_row(db, None, body.sent()))


@router.get(
    "/recipe_rows", dependencies=[allow_filters("product_variant_id", "ingredient_variant_id")]
)
def list_recipe_rows(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    product_variant_id: int | None = None,
    ingredient_variant_id: int | None = None,
) -> dict[str, Any]:
    q = common_filters(select(RecipeRow).order_by(RecipeRow.id.desc()), RecipeRow, request)
    if product_variant_id:
        q = q.where(RecipeRow.product_variant_id == product_variant_id)
    if ingredient_variant_id:
        q = q.where(RecipeRow.ingredient_variant_id == ingredient_variant_id)
    return {"data": [recipe_row_out(db, r) for r in paginate(db, q, paging, response)]}


@router.patch("/recipe_rows/{row_id}")
def update_recipe_row(row_id: int, body: RecipeRowPatch, db: Db) -> dict[str, Any]:
    return recipe_row_out(db, mf.save_recipe_row(db, get(db, RecipeRow, row_id), body.sent()))


@router.delete("/recipe_rows/{row_id}", status_code=204)
def delete_recipe_row(row_id: int, db: Db) -> Response:
    db.delete(get(db, RecipeRow, row_id))
    return Response(status_code=204)


# -- manufacturing orders ------------------------------------------------------------------


@router.post("/manufacturing_orders")
def create_mo(body: MoIn, db: Db, who: Who) -> dict[str, Any]:
    """An MO; the product's recipe is copied into its recipe rows."""
    return mo_out(db, mf.create_order(db, body.sent(), who.name))


@router.get(
    "/manufacturing_orders",
    dependencies=[
        allow_filters("status", "is_linked_to_sales_order", "variant_id", "location_id", "order_no")
    ],
)
def list_mos(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    status: str | None = None,
    is_linked_to_sales_order: bool | None = None,
    variant_id: int | None = None,
    location_id: int | None = None,
    order_no: str | None = None,
) -> dict[str, Any]:
    q = common_filters(
        select(ManufacturingOrder).order_by(ManufacturingOrder.id.desc()),
        ManufacturingOrder,
        request,
    )
    if status:
        q = q.where(mf.status_column() == status)
    if is_linked_to_sales_order is not None:
        col = ManufacturingOrder.sales_order_row_id
        q = q.where(col.is_not(None) if is_linked_to_sales_order else col.is_(None))
    if variant_id:
        q = q.where(ManufacturingOrder.variant_id == variant_id)
    if location_id:
        q = q.where(ManufacturingOrder.location_id == location_id)
    if order_no:
        q = q.where(ManufacturingOrder.order_no == order_no)
    page = paginate(db, q, paging, response)
    now = mf.statuses(db, [m.id for m in page])
    return {"data": [mo_out(db, m, now[m.id]) for m in page]}


@router.get("/manufacturing_orders/{mo_id}")
def get_mo(mo_id: int, db: Db) -> dict[str, Any]:
    return mo_out(db, get(db, ManufacturingOrder, mo_id))


@router.patch("/manufacturing_orders/{mo_id}")
def update_mo(mo_id: int, body: MoPatch, db: Db) -> dict[str, Any]:
    return mo_out(db, mf.update_order(db, get(db, ManufacturingOrder, mo_id), body.sent()))


@router.delete("/manufacturing_orders/{mo_id}", status_code=204)
def delete_mo(mo_id: int, db: Db) -> Response:
    mf.delete_order(db, get(db, ManufacturingOrder, mo_id))
    return Response(status_code=204)


@router.post("/manufacturing_order_make_to_order")
def make_to_order(body: MakeToOrderIn, db: Db, who: Who) -> dict[str, Any]:
    """An MO for a sales row (its variant, quantity, location), linked to it."""
    return mo_out(
        db,
        mf.make_to_order(
            db,
            int(body.sales_order_row_id),
            who.name,
            create_subassemblies=body.create_subassemblies,
        ),
    )


@router.post("/manufacturing_order_unlink", status_code=204)
def unlink_mo(body: UnlinkIn, db: Db, who: Who) -> Response:
    """Explicit unlink: the MO stays; serials it assigned to the row are released."""
    mf.unlink(db, int(body.sales_order_row_id), who.name)
    return Response(status_code=204)


# -- MO recipe rows ------------------------------------------------------------------------


@router.post("/manufacturing_order_recipe_rows")
def create_mo_row(body: MoRecipeRowIn, db: Db, who: Who) -> dict[str, Any]:
    """An ingredient on an MO; without planned_quantity_per_unit it is taken from the recipe.

    ``batch_transactions`` pick batches (consumed before FEFO); ``traceability``
    serial_number_ids hold serial ingredients for this MO.
    """
    return mo_row_out(db, mf.add_recipe_row(db, body.sent(), who.name))


@router.get(
    "/manufacturing_order_recipe_rows",
    dependencies=[allow_filters("manufacturing_order_id", "variant_id")],
)
def list_mo_rows(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    manufacturing_order_id: float | None = None,  # Katana's client sends a number
    variant_id: int | None = None,
) -> dict[str, Any]:
    model = ManufacturingOrderRecipeRow
    q = common_filters(select(model).order_by(model.id.desc()), model, request)
    if manufacturing_order_id:
        q = q.where(model.manufacturing_order_id == int(manufacturing_order_id))
    if variant_id:
        q = q.where(model.variant_id == variant_id)
    return {"data": [mo_row_out(db, r) for r in paginate(db, q, paging, response)]}


@router.get("/manufacturing_order_recipe_rows/{row_id}")
def get_mo_row(row_id: int, db: Db) -> dict[str, Any]:
    return mo_row_out(db, get(db, ManufacturingOrderRecipeRow, row_id))


@router.patch("/manufacturing_order_recipe_rows/{row_id}")
def update_mo_row(row_id: int, body: MoRecipeRowPatch, db: Db, who: Who) -> dict[str, Any]:
    row = get(db, ManufacturingOrderRecipeRow, row_id)
    return mo_row_out(db, mf.update_recipe_row(db, row, body.sent(), who.name))


@router.delete("/manufacturing_order_recipe_rows/{row_id}", status_code=204)
def delete_mo_row(row_id: int, db: Db) -> Response:
    mf.delete_recipe_row(db, get(db, ManufacturingOrderRecipeRow, row_id))
    return Response(status_code=204)


# -- productions ---------------------------------------------------------------------------


@router.post("/manufacturing_order_productions")
def create_production(body: ProductionIn, db: Db, who: Who) -> dict[str, Any]:
    """Consume ingredients and produce output (batch or serials), writing genealogy.

    Output serials: ``serial_numbers`` (ids minted on the MO), else
    ``new_serial_numbers`` (entered or scanned strings, ranges allowed), else
    the MO's minted serials, else generated from the item's ``serial_pattern``.
    Serial ingredients are named in ``traceability`` (or held on the recipe
    row); batch ingredients come from the batches named here, else the row's
    picks, then FEFO. An expired batch is used only when named (here or as a
    pick) with ``allow_expired: true``; FEFO never takes one.
    """
    return production_out(db, mf.produce(db, body.sent(), who.name))


@router.get(
    "/manufacturing_order_productions",
    dependencies=[allow_filters("manufacturing_order_ids", "manufacturing_order_id")],
)
def list_productions(
    request: Request, response: Response, db: Db, paging: Paging
) -> dict[str, Any]:
    q = common_filters(select(Production).order_by(Production.id.desc()), Production, request)
    ids = request.query_params.getlist("manufacturing_order_ids") + request.query_params.getlist(
        "manufacturing_order_id"
    )
    if ids:
        q = q.where(Production.manufacturing_order_id.in_([int(float(i)) for i in ids]))
    return {"data": [production_out(db, p) for p in paginate(db, q, paging, response)]}


@router.get("/manufacturing_order_productions/{production_id}")
def get_production(production_id: int, db: Db) -> dict[str, Any]:
    return production_out(db, get(db, Production, production_id))


@router.delete("/manufacturing_order_productions/{production_id}", status_code=204)
def delete_production(production_id: int, db: Db, who: Who) -> Response:
    """Revert a production while its output is in stock; ingredients are restored."""
    mf.delete_production(db, get(db, Production, production_id), who.name)
    return Response(status_code=204)

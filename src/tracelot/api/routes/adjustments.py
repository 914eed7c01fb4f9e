"""Stock adjustments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from pydantic import Field
from sqlalchemy import select

from tracelot.api.deps import Db, Paging, Who, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import BatchTransactionIn, Day, In, TraceabilityIn
from tracelot.api.serialize import clean, dec, iso
from tracelot.db.models import Movement, SerialTransaction, StockAdjustment, StockAdjustmentRow
from tracelot.services import adjustments
from tracelot.services.common import apply, get

router = api_router("stock adjustments")


class AdjustmentBatchIn(BatchTransactionIn):
    batch_number: str | None = Field(default=None, max_length=64)
    expiration_date: Day | None = None
    batch_barcode: str | None = Field(default=None, max_length=40)


class AdjustmentRowIn(In):
    variant_id: int = Field(ge=1)
    quantity: Decimal
    cost_per_unit: Decimal | None = None
    batch_transactions: list[AdjustmentBatchIn] = Field(default_factory=list)
    traceability: list[TraceabilityIn] = Field(default_factory=list)
    serial_numbers: list[str] = Field(default_factory=list)
    connects_existing: bool = False


class AdjustmentIn(In):
    location_id: int = Field(ge=1)
    stock_adjustment_rows: list[AdjustmentRowIn] = Field(min_length=1)
    stock_adjustment_number: str | None = Field(default=None, max_length=64)
    stock_adjustment_date: datetime | None = None
    reason: str | None = None
    additional_info: str | None = None


class AdjustmentPatch(In):
    stock_adjustment_number: str | None = Field(default=None, max_length=64)
    stock_adjustment_date: datetime | None = None
    reason: str | None = None
    additional_info: str | None = None


def adjustment_out(db: Db, adj: StockAdjustment) -> dict[str, Any]:
    return adjustments_out(db, [adj])[0]


def adjustments_out(db: Db, adjs: list[StockAdjustment]) -> list[dict[str, Any]]:
    """A page of adjustments with their rows, in four queries whatever the page size."""
    rows = list(
        db.scalars(
            select(StockAdjustmentRow)
            .where(StockAdjustmentRow.stock_adjustment_id.in_([a.id for a in adjs]))
            .order_by(StockAdjustmentRow.id)
        )
    )
    ids = [r.id for r in rows]
    moves = db.execute(
        select(Movement.resource_id, Movement.batch_id, Movement.quantity).where(
            Movement.resource_type == adjustments.ROW,
            Movement.resource_id.in_(ids),
            Movement.reason == "adjustment",
        )
    ).all()
    links = db.execute(
        select(SerialTransaction.resource_id, SerialTransaction.serial_id).where(
            SerialTransaction.resource_type == adjustments.ROW,
            SerialTransaction.resource_id.in_(ids),
            SerialTransaction.is_active.is_(True),
        )
    ).all()
    missing = adjustments.missing_serials(db, rows)
    return [
        clean(
            {
                "id": adj.id,
                "stock_adjustment_number": adj.stock_adjustment_number,
                "location_id": adj.location_id,
                "stock_adjustment_date": iso(adj.stock_adjustment_date),
                "reason": adj.reason,
                "additional_info": adj.additional_info,
                "created_at": iso(adj.created_at),
                "updated_at": iso(adj.updated_at),
                "deleted_at": iso(adj.deleted_at),
                "stock_adjustment_rows": [
                    {
                        "id": r.id,
                        "variant_id": r.variant_id,
                        "quantity": dec(r.quantity),
                        "cost_per_unit": float(r.cost_per_unit)
                        if r.cost_per_unit is not None
                        else None,
                        "batch_transactions": [
                            {"batch_id": m.batch_id, "quantity": float(abs(m.quantity))}
                            for m in moves
                            if m.resource_id == r.id and m.batch_id
                        ],
                        "traceability": [
                            {"serial_number_id": lk.serial_id, "quantity": 1}
                            for lk in links
                            if lk.resource_id == r.id
                        ],
                        "missing_serial_numbers": missing[r.id],
                    }
                    for r in rows
                    if r.stock_adjustment_id == adj.id
                ],
            }
        )
        for adj in adjs
    ]


@router.post("/stock_adjustments")
def create_adjustment(body: AdjustmentIn, db: Db, who: Who) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    return adjustment_out(db, adjustments.create(db, data, who.name))


@router.get(
    "/stock_adjustments", dependencies=[allow_filters("location_id", "stock_adjustment_number")]
)
def list_adjustments(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    location_id: int | None = None,
    stock_adjustment_number: str | None = None,
) -> dict[str, Any]:
    q = common_filters(
        select(StockAdjustment).order_by(StockAdjustment.id.desc()), StockAdjustment, request
    )
    if location_id:
        q = q.where(StockAdjustment.location_id == location_id)
    if stock_adjustment_number:
        q = q.where(StockAdjustment.stock_adjustment_number == stock_adjustment_number)
    return {"data": adjustments_out(db, paginate(db, q, paging, response))}


@router.get("/stock_adjustments/{adjustment_id}")
def get_adjustment(adjustment_id: int, db: Db) -> dict[str, Any]:
    return adjustment_out(db, get(db, StockAdjustment, adjustment_id))


@router.patch("/stock_adjustments/{adjustment_id}")
def update_adjustment(adjustment_id: int, body: AdjustmentPatch, db: Db) -> dict[str, Any]:
    adj = get(db, StockAdjustment, adjustment_id)
    apply(adj, body.sent(), adjustments.HEADER_FIELDS)
    return adjustment_out(db, adj)


@router.delete("/stock_adjustments/{adjustment_id}", status_code=204)
def delete_adjustment(adjustment_id: int, db: Db, who: Who) -> Response:
    adjustments.delete(db, get(db, StockAdjustment, adjustment_id), who.name)
    return Response(status_code=204)

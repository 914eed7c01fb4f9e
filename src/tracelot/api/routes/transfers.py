"""Stock transfers between locations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import Request, Response
from pydantic import Field
from sqlalchemy import select

from tracelot.api.deps import Db, Paging, Who, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import BatchTransactionIn, In, TraceabilityIn
from tracelot.api.serialize import clean, dec, iso
from tracelot.db.models import BatchPick, Serial, StockTransfer, StockTransferRow
from tracelot.services import transfers
from tracelot.services.common import apply, get

router = api_router("stock transfers")


class TransferRowIn(In):
    variant_id: int = Field(ge=1)
    quantity: Decimal = Field(gt=0)
    batch_transactions: list[BatchTransactionIn] = Field(default_factory=list)
    traceability: list[TraceabilityIn] = Field(default_factory=list)
    serial_numbers: list[str] = Field(default_factory=list)


class TransferIn(In):
    source_location_id: int = Field(ge=1)
    target_location_id: int = Field(ge=1)
    stock_transfer_rows: list[TransferRowIn] = Field(min_length=1)
    stock_transfer_number: str | None = Field(default=None, max_length=64)
    transfer_date: datetime | None = None
    expected_arrival_date: datetime | None = None
    additional_info: str | None = None


class TransferPatch(In):
    stock_transfer_number: str | None = Field(default=None, max_length=64)
    transfer_date: datetime | None = None
    expected_arrival_date: datetime | None = None
    additional_info: str | None = None


class TransferStatusIn(In):
    status: Literal["draft", "inTransit", "received"]


def transfer_out(db: Db, tr: StockTransfer) -> dict[str, Any]:
    rows = db.scalars(
        select(StockTransferRow)
        .where(StockTransferRow.stock_transfer_id == tr.id)
        .order_by(StockTransferRow.id)
    ).all()
    ids = [r.id for r in rows]
    picks = db.scalars(
        select(BatchPick).where(
            BatchPick.resource_type == transfers.ROW, BatchPick.resource_id.in_(ids)
        )
    ).all()
    held = db.execute(
        select(Serial.holder_id, Serial.id).where(
            Serial.holder_type == transfers.ROW, Serial.holder_id.in_(ids)
        )
    ).all()
    return clean(
        {
            "id": tr.id,
            "stock_transfer_number": tr.stock_transfer_number,
            "source_location_id": tr.source_location_id,
            "target_location_id": tr.target_location_id,
            "status": tr.status,
            "transfer_date": iso(tr.transfer_date or tr.created_at),
            "expected_arrival_date": iso(tr.expected_arrival_date),
            "additional_info": tr.additional_info,
            "created_at": iso(tr.created_at),
            "updated_at": iso(tr.updated_at),
            "deleted_at": iso(tr.deleted_at),
            "stock_transfer_rows": [
                {
                    "id": r.id,
                    "variant_id": r.variant_id,
                    "quantity": dec(r.quantity),
                    "batch_transactions": [
                        {"batch_id": p.batch_id, "quantity": float(p.quantity)}
                        for p in picks
                        if p.resource_id == r.id
                    ],
                    "serial_numbers": [sid for rid, sid in held if rid == r.id],
                }
                for r in rows
            ],
        }
    )


@router.post("/stock_transfers")
def create_transfer(body: TransferIn, db: Db, who: Who) -> dict[str, Any]:
    return transfer_out(db, transfers.create(db, body.model_dump(exclude_unset=True), who.name))


@router.get(
    "/stock_transfers",
    dependencies=[
        allow_filters("source_location_id", "target_location_id", "status", "stock_transfer_number")
    ],
)
def list_transfers(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    source_location_id: int | None = None,
    target_location_id: int | None = None,
    status: str | None = None,
    stock_transfer_number: str | None = None,
) -> dict[str, Any]:
    q = common_filters(
        select(StockTransfer).order_by(StockTransfer.id.desc()), StockTransfer, request
    )
    for col, val in (
        (StockTransfer.source_location_id, source_location_id),
        (StockTransfer.target_location_id, target_location_id),
        (StockTransfer.status, status),
        (StockTransfer.stock_transfer_number, stock_transfer_number),
    ):
        if val is not None:
            q = q.where(col == val)
    return {"data": [transfer_out(db, t) for t in paginate(db, q, paging, response)]}


@router.get("/stock_transfers/{transfer_id}")
def get_transfer(transfer_id: int, db: Db) -> dict[str, Any]:
    return transfer_out(db, get(db, StockTransfer, transfer_id))


@router.patch("/stock_transfers/{transfer_id}/status")
def set_transfer_status(
    transfer_id: int, body: TransferStatusIn, db: Db, who: Who
) -> dict[str, Any]:
    tr = get(db, StockTransfer, transfer_id)
    return transfer_out(db, transfers.set_status(db, tr, body.status, who.name))


@router.patch("/stock_transfers/{transfer_id}")
def update_transfer(transfer_id: int, body: TransferPatch, db: Db) -> dict[str, Any]:
    tr = get(db, StockTransfer, transfer_id)
    apply(tr, body.sent(), transfers.HEADER_FIELDS)
    return transfer_out(db, tr)


@router.delete("/stock_transfers/{transfer_id}", status_code=204)
def delete_transfer(transfer_id: int, db: Db) -> Response:
    transfers.delete_transfer(db, get(db, StockTransfer, transfer_id))
    return Response(status_code=204)

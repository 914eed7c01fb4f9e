"""The ledger as Katana's inventory movements, plus tracking archives."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import select

from tracelot.api.deps import Db, Paging, allow_filters, api_router, paginate
from tracelot.api.serialize import clean, iso, num
from tracelot.db.models import Movement, SerialTransaction, TrackingArchive
from tracelot.services.common import get

router = api_router("inventory movements")

KATANA_TYPES = {
    "StockAdjustmentRow",
    "StockTransferRow",
    "PurchaseOrderRow",
    "SalesOrderRow",
    "Production",
    "ProductionIngredient",
}


def movement_out(m: Movement, serial_ids: list[int]) -> dict[str, Any]:
    value = float(m.cost_per_unit or 0)
    return clean(
        {
            "id": m.id,
            "created_at": iso(m.created_at),
            "updated_at": iso(m.created_at),
            "variant_id": m.variant_id,
            "location_id": m.location_id,
            "resource_type": m.resource_type
            if m.resource_type in KATANA_TYPES
            else "SystemGenerated",
            "resource_id": m.resource_id,
            "caused_by_order_no": m.caused_by_order_no,
            "movement_date": iso(m.movement_date),
            "quantity_change": num(m.quantity),
            "balance_after": num(m.balance_after),
            "value_per_unit": value,
            "value_in_stock_after": value * float(m.balance_after),
            "average_cost_after": value,
            "batch_id": m.batch_id,
            "serial_number_ids": serial_ids,
            "reason": m.reason,
            "tracelot_resource_type": m.resource_type,
            "document": m.document,
            "user": m.user,
        }
    )


@router.get(
    "/inventory_movements",
    dependencies=[
        allow_filters(
            "variant_ids",
            "location_id",
            "resource_type",
            "resource_id",
            "caused_by_order_no",
            "batch_id",
        )
    ],
)
def list_movements(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    location_id: int | None = None,
    resource_type: str | None = None,
    resource_id: int | None = None,
    caused_by_order_no: str | None = None,
    batch_id: int | None = None,
) -> dict[str, Any]:
    # Zero-quantity movements only connect serials to stock already counted: they
    # belong to serial history, not to Katana's quantity movements.
    q = select(Movement).where(Movement.quantity != 0).order_by(Movement.id.desc())
    variant_ids = request.query_params.getlist("variant_ids")
    if variant_ids:
        q = q.where(Movement.variant_id.in_([int(v) for v in variant_ids]))
    ids = request.query_params.getlist("ids")
    if ids:
        q = q.where(Movement.id.in_([int(float(i)) for i in ids]))
    for col, val in (
        (Movement.location_id, location_id),
        (Movement.resource_type, resource_type),
        (Movement.resource_id, resource_id),
        (Movement.batch_id, batch_id),
        (Movement.caused_by_order_no, caused_by_order_no),
    ):
        if val is not None:
            q = q.where(col == val)
    rows = paginate(db, q, paging, response)
    serials: dict[int, list[int]] = {m.id: [] for m in rows}
    if rows:
        for mid, sid in db.execute(
            select(SerialTransaction.movement_id, SerialTransaction.serial_id).where(
                SerialTransaction.movement_id.in_(list(serials))
            )
        ):
            if mid is not None:
                serials[mid].append(sid)
    return {"data": [movement_out(m, serials[m.id]) for m in rows]}


@router.get(
    "/tracking_archives", dependencies=[allow_filters("item_id")], tags=["tracking archives"]
)
def list_archives(
    response: Response, db: Db, paging: Paging, item_id: int | None = None
) -> dict[str, Any]:
    q = select(TrackingArchive).order_by(TrackingArchive.id.desc())
    if item_id:
        q = q.where(TrackingArchive.item_id == item_id)
    return {
        "data": [
            clean(
                {
                    "id": a.id,
                    "item_id": a.item_id,
                    "item_name": a.item_name,
                    "tracking": a.tracking,
                    "record_count": a.record_count,
                    "file_name": a.file_name,
                    "user": a.user,
                    "created_at": iso(a.created_at),
                    "download_url": f"/v1/tracking_archives/{a.id}/download",
                }
            )
            for a in paginate(db, q, paging, response)
        ]
    }


@router.get("/tracking_archives/{archive_id}/download", tags=["tracking archives"])
def download_archive(archive_id: int, db: Db) -> Response:
    a = get(db, TrackingArchive, archive_id, "Tracking archive")
    return Response(
        a.content,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{a.file_name}"'},
    )

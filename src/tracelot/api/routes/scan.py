"""POST /scan: what a scanned GS1 barcode names (variant, batch, serial)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select

from tracelot.api import out
from tracelot.api.deps import Db, api_router
from tracelot.api.schemas import In
from tracelot.api.serialize import clean, iso
from tracelot.db.models import Batch, Serial, Variant
from tracelot.domain import errors
from tracelot.standards import gs1

router = api_router("traceability")


class ScanIn(In):
    scan: str = Field(
        min_length=1,
        max_length=512,
        description="Raw scan: ']d2...' with GS separators, '(01)...(10)...', "
        "a GS1 Digital Link URI, or a GTIN.",
    )


@router.post("/scan")
def scan(body: ScanIn, db: Db) -> dict[str, Any]:
    found = gs1.interpret(body.scan)
    if found.error:
        raise errors.refuse("INVALID_BARCODE", found.error, path="scan")
    result: dict[str, Any] = {
        "scan": body.scan,
        "element_strings": found.element_strings,
        "hri": "".join(f"({k}){v}" for k, v in found.element_strings.items()),
        "gtin": found.gtin,
        "batch_number": found.batch_number,
        "serial_number": found.serial_number,
        "expiration_date": iso(found.expiration_date),
        "warnings": list(found.warnings),
    }
    variant = _variant(db, found.gtin) if found.gtin else None
    if found.gtin and variant is None:
        result["warnings"].append(f"No variant has GTIN {found.gtin}: set it on the variant.")
    if variant is not None:
        result["variant"] = out.variant(variant)
        _resolve(db, variant, found, result)
    result["found"] = any(k in result for k in ("variant", "batch", "serial"))
    return clean(result)


def _variant(db: Db, gtin: str) -> Variant | None:
    return db.scalar(
        select(Variant)
        .where(Variant.gtin.in_(gs1.gtin_forms(gtin)), Variant.deleted_at.is_(None))
        .limit(1)
    )


def _resolve(db: Db, variant: Variant, found: gs1.Scan, result: dict[str, Any]) -> None:
    """Batch and serial lookups; a doubtful (swallowed) value is reported, not matched."""
    doubtful = bool(found.warnings)
    if found.batch_number and not doubtful:
        batch = db.scalar(
            select(Batch).where(
                Batch.variant_id == variant.id, Batch.batch_number == found.batch_number
            )
        )
        if batch is None:
            result["warnings"].append(f"No batch '{found.batch_number}' of {variant.sku}.")
        else:
            result["batch"] = out.batch(batch)
            if found.expiration_date and batch.expiration_date not in (None, found.expiration_date):
                result["warnings"].append(
                    f"The label's expiry {found.expiration_date} differs from batch "
                    f"'{batch.batch_number}' expiry {batch.expiration_date}."
                )
    if found.serial_number and not doubtful:
        serial = db.scalar(
            select(Serial).where(
                Serial.item_id == variant.item_id, Serial.serial_number == found.serial_number
            )
        )
        if serial is None:
            result["warnings"].append(f"No serial '{found.serial_number}' of {variant.sku}.")
        else:
            result["serial"] = {
                "id": serial.id,
                "serial_number": serial.serial_number,
                "status": serial.status,
                "location_id": serial.location_id,
                "hold_reason": serial.hold_reason,
            }

"""GET /labels/...: printable GS1 labels for a batch or a serial."""

from __future__ import annotations

from typing import Literal

from fastapi import Response

from tracelot.api.deps import Db, allow_filters, api_router
from tracelot.db.models import Batch, Serial, Variant
from tracelot.domain import errors
from tracelot.services.common import get
from tracelot.standards import gs1, labels

router = api_router("traceability")
Symbology = Literal["datamatrix", "gs1_128", "qr"]
Format = Literal["png", "svg", "pdf", "zpl"]
MEDIA = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "zpl": "text/plain"}
FILTERS = allow_filters("symbology", "format")


@router.get("/labels/batches/{batch_id}", dependencies=[FILTERS])
def batch_label(
    batch_id: int, db: Db, symbology: Symbology = "datamatrix", format: Format = "png"
) -> Response:
    batch = get(db, Batch, batch_id, "Batch")
    variant = get(db, Variant, batch.variant_id, "Variant")
    pairs = gs1.element_string(
        _gtin(variant), batch=batch.batch_number, expiry=batch.expiration_date
    )
    return _render(symbology, format, pairs, f"{variant.item.name} lot {batch.batch_number}")


@router.get("/labels/serial_numbers/{serial_id}", dependencies=[FILTERS])
def serial_label(
    serial_id: int, db: Db, symbology: Symbology = "datamatrix", format: Format = "png"
) -> Response:
    serial = get(db, Serial, serial_id, "Serial number")
    variant = get(db, Variant, serial.variant_id, "Variant")
    pairs = gs1.element_string(_gtin(variant), serial=serial.serial_number)
    return _render(symbology, format, pairs, f"{variant.item.name} S/N {serial.serial_number}")


def _gtin(variant: Variant) -> str:
    if not gs1.gtin14(variant.gtin):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Variant {variant.sku} has no GTIN: set "
            "its gtin (PATCH /variants/{id}) to print GS1 labels.",
            path="gtin",
        )
    return variant.gtin or ""


def _render(symbology: str, fmt: str, pairs: list[tuple[str, str]], title: str) -> Response:
    try:
        if fmt == "png":
            body: bytes | str = labels.png(symbology, pairs)
        elif fmt == "svg":
            body = labels.svg(symbology, pairs)
        elif fmt == "pdf":
            body = labels.pdf(symbology, pairs, title)
        else:
            body = labels.zpl(symbology, pairs, title)
    except Exception as exc:  # the encoder's own message (e.g. a value too long for GS1-128)
        if isinstance(exc, errors.TracelotError):
            raise
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Cannot encode this label: {exc}. Try symbology=datamatrix.",
            path="symbology",
        ) from None
    return Response(body, media_type=MEDIA[fmt])

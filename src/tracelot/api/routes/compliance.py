"""Compliance and attention lists: the FDA FSMA 204 spreadsheet, tracing issues."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response

from tracelot.api.deps import Db, Paging, allow_filters, api_router, paginate
from tracelot.api.serialize import clean, dec, iso
from tracelot.services import tracing_issues
from tracelot.standards import fsma204

router = api_router("traceability")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/fsma204",
    response_model=None,
    dependencies=[allow_filters("format", "variant_id", "from", "to", "lot")],
)
def fsma204_spreadsheet(
    request: Request,
    db: Db,
    format: Literal["csv", "xlsx", "json"] = "csv",
    variant_id: int | None = None,
    lot: Annotated[list[str] | None, Query()] = None,
) -> Any:
    """FDA FSMA 204 sortable spreadsheet: one row per critical tracking event and lot."""
    rows = fsma204.rows(
        db,
        variant_id,
        fsma204.bound(request.query_params.get("from"), "from"),
        fsma204.bound(request.query_params.get("to"), "to", end=True),
        lot,
    )
    if format == "json":
        return fsma204.to_json(rows)
    content = fsma204.render(rows, format)
    return Response(
        content,
        media_type=XLSX if format == "xlsx" else "text/csv",
        headers={"Content-Disposition": f'attachment; filename="fsma204.{format}"'},
    )


@router.get(
    "/tracing_issues",
    dependencies=[allow_filters("kind", "expiring_within_days", records=False)],
)
def list_tracing_issues(
    response: Response,
    db: Db,
    paging: Paging,
    kind: Annotated[list[Literal[tracing_issues.KINDS]] | None, Query()] = None,  # type: ignore[valid-type]
    expiring_within_days: Annotated[int, Query(ge=0, le=3650)] = 30,
) -> dict[str, Any]:
    """Everything that needs attention, most urgent first, each with the ids and links to fix it."""
    q = tracing_issues.query(kind, expiring_within_days)
    page = paginate(db, q, paging, response, scalars=False)
    return {"data": [_deep(e) for e in tracing_issues.describe(db, page)]}


def _deep(v: Any) -> Any:
    from decimal import Decimal

    if isinstance(v, dict):
        return clean({k: _deep(x) for k, x in v.items()})
    if isinstance(v, list):
        return [_deep(x) for x in v]
    if isinstance(v, Decimal):
        return dec(v)
    if hasattr(v, "isoformat"):
        return v.isoformat() if not isinstance(v, datetime) else iso(v)
    return v

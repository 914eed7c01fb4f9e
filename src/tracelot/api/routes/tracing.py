"""Traceability: holds, serial timelines, traces both ways."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field

from tracelot.api import out
from tracelot.api.deps import Db, Page, Paging, allow_filters, api_router
from tracelot.api.schemas import In
from tracelot.api.serialize import clean, dec, iso, parse_datetime
from tracelot.db.models import Serial
from tracelot.domain import errors
from tracelot.services import holds, recall, tracing
from tracelot.standards import epcis

router = api_router("traceability")


class HoldIn(In):
    reason: str = Field(default="quality hold", max_length=240)
    recalled: bool = False


def serial_out(s: Serial) -> dict[str, Any]:
    return clean(
        {
            "id": s.id,
            "serial_number": s.serial_number,
            "variant_id": s.variant_id,
            "status": s.status,
            "location_id": s.location_id,
            "in_stock": s.status in ("in_stock", "reserved"),
            "hold_reason": s.hold_reason,
            "created_at": iso(s.created_at),
            "updated_at": iso(s.updated_at),
        }
    )


@router.put("/batches/{batch_id}/hold")
def hold_batch(batch_id: int, body: HoldIn, db: Db) -> dict[str, Any]:
    return out.batch(holds.put_batch_hold(db, batch_id, body.reason, body.recalled))


@router.delete("/batches/{batch_id}/hold", status_code=204)
def release_batch(batch_id: int, db: Db) -> Response:
    holds.release_batch(db, batch_id)
    return Response(status_code=204)


@router.put("/serial_numbers/{serial_id}/hold")
def hold_serial(serial_id: int, body: HoldIn, db: Db) -> dict[str, Any]:
    holds.put_serial_hold(db, [serial_id], body.reason, body.recalled)
    return serial_out(tracing.find_serial(db, serial_id))


@router.delete("/serial_numbers/{serial_id}/hold", status_code=204)
def release_serial(serial_id: int, db: Db) -> Response:
    holds.release_serials(db, [serial_id])
    return Response(status_code=204)


def history_out(h: dict[str, Any]) -> dict[str, Any]:
    return clean(
        {
            **serial_out(h["serial"]),
            "sku": h["variant"].sku if h["variant"] else None,
            "steps": [_plain({**st, "at": iso(st["at"])}) for st in h["steps"]],
            "made_from": [_plain(i) for i in h["made_from"]],
        }
    )


@router.get("/serial_numbers/history", dependencies=[allow_filters("serial_number")])
def history_by_number(db: Db, serial_number: Annotated[str, Query(min_length=1)]) -> dict[str, Any]:
    return history_out(
        tracing.serial_history(db, tracing.find_serial(db, serial_number=serial_number))
    )


@router.get("/serial_numbers/{serial_id}/history")
def history(serial_id: int, db: Db) -> dict[str, Any]:
    return history_out(tracing.serial_history(db, tracing.find_serial(db, serial_id)))


@router.get("/trace", dependencies=[allow_filters("batch_id", "serial_number_id", "direction")])
def trace(
    db: Db,
    response: Response,
    paging: Paging,
    direction: Literal["forward", "backward"] = "forward",
    batch_id: Annotated[list[int] | None, Query()] = None,
    serial_number_id: Annotated[list[int] | None, Query()] = None,
) -> dict[str, Any]:
    """Every product made from (forward) or every input of (backward) the named lots/units:
    ``totals``, ``levels`` and ``variants`` over the whole trace, ``nodes`` and the
    shipments/origins one page each (``limit``/``page``; X-Pagination counts the longer)."""
    start = tracing.start_nodes(db, batch_id or [], serial_number_id or [])
    t = tracing.trace(db, start, direction, limit=paging.limit, page=paging.page)
    _pagination(response, paging, max(t.totals["nodes"], t.totals["events"]))
    key = "shipments" if direction == "forward" else "origins"
    return clean(
        {
            "direction": direction,
            "totals": _plain(t.totals),
            "levels": t.levels,
            "variants": t.variants,
            "warnings": t.warnings,
            "nodes": [_plain(n) for n in t.nodes],
            "links": [_plain(lk) for lk in t.links],
            key: [_plain(e) for e in t.events],
        }
    )


def _pagination(response: Response, paging: Page, total: int) -> None:
    """Katana's X-Pagination header, as ``deps.paginate`` sets it for lists."""
    pages = max(1, math.ceil(total / paging.limit))
    response.headers["X-Pagination"] = json.dumps(
        {
            "total_records": str(total),
            "total_pages": str(pages),
            "offset": str((paging.page - 1) * paging.limit),
            "page": str(paging.page),
            "first_page": str(paging.page == 1).lower(),
            "last_page": str(paging.page >= pages).lower(),
        }
    )


@router.get(
    "/recall",
    response_model=None,
    dependencies=[allow_filters("batch_id", "serial_number_id", "format")],
)
def recall_report(
    db: Db,
    batch_id: Annotated[list[int] | None, Query()] = None,
    serial_number_id: Annotated[list[int] | None, Query()] = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Any:
    """Affected customers, orders, lots, stock on hand and mass balance; JSON, CSV or XLSX.
    The whole report, however large: JSON is encoded once (no per-value model encoding),
    CSV is written while it streams (its rows are read before the transaction ends)."""
    r = recall.report(db, batch_id or [], serial_number_id or [])
    if format == "json":
        return StreamingResponse(_json_chunks(r), media_type="application/json")
    disposition = {"Content-Disposition": f'attachment; filename="recall.{format}"'}
    if format == "csv":
        sheets = recall.tables(db, r)
        return StreamingResponse(
            recall.csv_chunks(sheets), media_type="text/csv", headers=disposition
        )
    return Response(
        recall.render(db, r, format),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=disposition,
    )


@router.get("/epcis/events", dependencies=[allow_filters("from", "to", "batch")])
def epcis_events(
    request: Request, db: Db, batch: Annotated[list[str] | None, Query()] = None
) -> Response:
    """EPCIS 2.0 JSON-LD document of receipts, productions and shipments in the range."""
    params = request.query_params
    start = parse_datetime(params["from"], "from") if "from" in params else None
    end = parse_datetime(params["to"], "to") if "to" in params else None
    batch_ids = recall.find_starts(db, batch)[0] if batch else None
    if batch and not batch_ids:
        raise errors.refuse(errors.MISSING, "batch names no batch number.", path="batch")
    doc = epcis.document(db, start, end, batch_ids)
    return Response(json.dumps(doc), media_type="application/ld+json")


def _json_chunks(report: dict[str, Any], size: int = 5000) -> Iterator[bytes]:
    """The report as JSON with Katana's decimals and dates, written while it is sent: its
    long lists (a recall's 120,000 lines and 100,000 units) go ``size`` items at a time
    and each part is let go once written, so the server never holds the 80 MB answer
    beside the report. The report holds no None (its parts leave unknown values out), so
    it is encoded as it is, in C (orjson): only decimals and dates call ``encode``, each
    distinct one converted once (a recall's 240,000 dates are a handful of values)."""
    memo: dict[Any, str] = {}

    def encode(v: Any) -> str:
        done = memo.get(v)
        if done is None:
            done = memo[v] = (
                dec(v) if isinstance(v, Decimal) else iso(v) if hasattr(v, "isoformat") else str(v)
            ) or ""
        return done

    def dumps(v: Any) -> bytes:
        return orjson.dumps(v, default=encode, option=orjson.OPT_PASSTHROUGH_DATETIME)

    long = [k for k, v in report.items() if isinstance(v, list) and len(v) > size]
    head = dumps({k: v for k, v in report.items() if k not in long})
    yield head[:-1]
    comma = len(head) > 2
    for key in long:
        items = report[key]
        yield (b"," if comma else b"") + dumps(key) + b":["
        comma, first = True, True
        while items:
            part, items[:size] = items[:size], []
            yield (b"" if first else b",") + dumps(part)[1:-1]
            first = False
        yield b"]"
    yield b"}"


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """Decimals as strings, dates as ISO, for JSON."""
    res: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Decimal):
            res[k] = dec(v)
        elif hasattr(v, "isoformat"):
            res[k] = iso(v)
        elif isinstance(v, dict):
            res[k] = _plain(v)
        else:
            res[k] = v
    return res

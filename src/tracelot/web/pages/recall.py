"""Recall: pick batches/serials, see affected customers and the mass balance, download
(recall report CSV/XLSX, EPCIS 2.0, FDA FSMA 204 CSV/XLSX)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Query, Request
from starlette.responses import Response

from tracelot.domain.errors import TracelotError
from tracelot.services import recall
from tracelot.standards import fsma204
from tracelot.web import queries
from tracelot.web.deps import Db, signed_in_router
from tracelot.web.render import CSV, XLSX, file_response
from tracelot.web.render import page as render

router = signed_in_router()
Ids = Annotated[list[int] | None, Query()]


def _starts(
    db: Db, batch: list[int] | None, serial: list[int] | None, numbers: str
) -> tuple[list[int], list[int]]:
    batch_ids, serial_ids = list(batch or []), list(serial or [])
    names = [n.strip() for n in numbers.replace(",", "\n").splitlines() if n.strip()]
    if names:
        b, s = recall.find_starts(db, names)
        batch_ids += b
        serial_ids += s
    return batch_ids, serial_ids


@router.get("/recall")
def recall_page(
    request: Request, db: Db, batch: Ids = None, serial: Ids = None, numbers: str = ""
) -> Response:
    report, error = None, None
    try:
        b, s = _starts(db, batch, serial, numbers)
        if b or s:
            report = recall.report(db, b, s)
    except TracelotError as exc:
        error, b, s = exc.message, [], []
    query = "&".join([f"batch={i}" for i in b] + [f"serial={i}" for i in s])
    return render(
        request,
        "recall.html",
        "recall",
        report=report,
        numbers=numbers,
        error=error,
        query=query,
        shown=AFFECTED_SHOWN,
        customers_shown=CUSTOMERS_SHOWN,
    )


# Lots and units linked on the page; a lot reaching 100,000 units lists the rest in the
# downloads (their Affected sheet), not as 100,000 links.
AFFECTED_SHOWN = 200
# Customers listed on the page; the rest are in the downloads' Customers sheet. The
# common lot of the scale-1 benchmark reaches 20,000: their rows made a 3.7 MB page
# whose template took 1.3 s of a profiled 5 s request.
CUSTOMERS_SHOWN = 200


@router.get("/recall/report.{fmt}")
def download(db: Db, fmt: str, batch: Ids = None, serial: Ids = None) -> Response:
    """CSV/XLSX of the recall report, or the EPCIS 2.0 events of the batches."""
    if fmt == "epcis.json":
        from tracelot.standards import epcis

        doc: Any = epcis.document(db, None, None, list(batch or []))
        return file_response(json.dumps(doc), "application/ld+json", "recall-epcis.json")
    if fmt not in ("csv", "xlsx"):
        return Response("Formats: csv, xlsx, epcis.json.", status_code=404)
    report = recall.report(db, list(batch or []), list(serial or []))
    if fmt == "xlsx":
        return file_response(recall.render(db, report, fmt), XLSX, "recall.xlsx")
    # Written while it is sent, as the API's (a large recall's CSV is 20 MB).
    return file_response(recall.csv_chunks(recall.tables(db, report)), CSV, "recall.csv")


@router.get("/recall/fsma204.{fmt}")
def fsma204_download(db: Db, fmt: str, batch: Ids = None, serial: Ids = None) -> Response:
    """The FDA FSMA 204 sortable spreadsheet of the recalled lots, traced both ways: the same
    rows and file as the API's GET /v1/fsma204?lot=... for these lots' codes."""
    if fmt not in ("csv", "xlsx"):
        return Response("Formats: csv, xlsx.", status_code=404)
    lots = queries.lot_codes(db, list(batch or []), list(serial or []))
    if not lots:
        return Response("Name the batches or serials of the recall.", status_code=400)
    content = fsma204.render(fsma204.rows(db, lots=lots), fmt)
    return file_response(content, XLSX if fmt == "xlsx" else CSV, f"fsma204.{fmt}")

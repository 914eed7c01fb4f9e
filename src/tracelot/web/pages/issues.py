"""Tracing issues: everything that needs attention, each with a link to fix it.

The page is the API's GET /v1/tracing_issues on a screen: the same query
(``services.tracing_issues.query``, one UNION ALL paged in the database, most
urgent first) and the same descriptions (``tracing_issues.describe``: message,
counts, the web link that fixes it). Entries are shown in one section per kind.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from starlette.responses import Response

from tracelot.services import tracing_issues
from tracelot.web.deps import Db, signed_in_router
from tracelot.web.paging import paged, url_maker
from tracelot.web.render import page as render

router = signed_in_router()
SOON_DAYS = 30  # the API's default horizon for batches expiring soon

# kind: (section heading, section id, label of the link that fixes it)
SECTIONS: dict[str, tuple[str, str, str]] = {
    "batch_expired": ("Expired batches still in stock", "expired", "Open batch"),
    "batch_on_hold": ("Batches on hold with stock", "batches-on-hold", "Open batch"),
    "serials_on_hold": ("Serial numbers on hold in stock", "serials-on-hold", "Open"),
    "missing_serials": (
        "Orders that shipped units without serial numbers",
        "missing-orders",
        "Assign on the order",
    ),
    "serials_not_connected": (
        "Stock not connected to serial numbers",
        "serial-gaps",
        "Connect serials",
    ),
    "batch_expiring": (f"Batches expiring within {SOON_DAYS} days", "expiring", "Open batch"),
}


def _section(kind: str) -> tuple[str, str, str]:
    """How a kind is shown; a kind the service gained since still gets a section."""
    return SECTIONS.get(kind, (kind.replace("_", " ").capitalize(), kind, "Fix"))


@router.get("/issues")
def issues(request: Request, db: Db, kind: str = "", page: int = 1) -> Response:
    kind = kind if kind in tracing_issues.KINDS else ""
    # The issues are counted once per kind, and the page's total is read from those
    # counts: the union is evaluated twice (counts, page), not three times.
    every = tracing_issues.query(None, SOON_DAYS).order_by(None).subquery()
    counts: dict[str, int] = {
        k: n for k, n in db.execute(select(every.c.kind, func.count()).group_by(every.c.kind))
    }
    total = counts.get(kind, 0) if kind else sum(counts.values())
    query = tracing_issues.query([kind] if kind else None, SOON_DAYS)
    pager = paged(db, query, page, total=total)
    groups: dict[str, list[dict[str, Any]]] = {}
    for e in tracing_issues.describe(db, pager.rows):
        groups.setdefault(e["kind"], []).append(e)
    return render(
        request,
        "issues.html",
        "issues",
        pager=pager,
        groups={k: (_section(k), entries) for k, entries in groups.items()},
        kinds=[(k, _section(k)[0]) for k in tracing_issues.KINDS],
        counts=counts,
        kind=kind,
        soon_days=SOON_DAYS,
        url=url_maker(request),
    )

"""Templates: one Jinja2 environment, helpers for dates/quantities, the page shell."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import Response, StreamingResponse

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

NAV = [
    ("sell", "Sell", "/sell"),
    ("make", "Make", "/make"),
    ("buy", "Buy", "/buy"),
    ("items", "Items", "/items"),
    ("stock", "Stock", "/stock"),
    ("recall", "Recall", "/recall"),
    ("issues", "Tracing issues", "/issues"),
]


CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def file_response(content: Any, media: str, name: str) -> Response:
    """A file to save: ``content`` is text or bytes, or an iterator of parts sent as they
    come (a large export is never one string)."""
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if isinstance(content, str | bytes):
        return Response(content, media_type=media, headers=headers)
    return StreamingResponse(content, media_type=media, headers=headers)


def qty(value: Any) -> str:
    """Quantities without trailing zeros: 100.000000 -> 100, 2.500000 -> 2.5."""
    if value is None:
        return ""
    d = Decimal(value).normalize()
    return f"{d:f}" if d == d.to_integral() else f"{d.normalize():f}"


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


templates.env.filters["qty"] = qty
templates.env.filters["day"] = day
templates.env.globals["NAV"] = NAV
# Pages for documents that hold serials; capabilities add theirs (resource type -> URL).
HOLDER_PAGES: dict[str, Any] = {}


def holder_link(holder_type: str, holder_id: int) -> Markup:
    """A link to the document row holding a serial, or its name when it has no page."""
    label = f"{holder_type.removesuffix('Row')} #{holder_id}"
    make = HOLDER_PAGES.get(holder_type)
    if make is None:
        return Markup("{}").format(label)
    return Markup('<a href="{}">{}</a>').format(make(holder_id), label)


templates.env.globals["holder_link"] = holder_link


def page(
    request: Request, name: str, active: str = "", status_code: int = 200, **context: Any
) -> Response:
    """Render a full page with the signed-in user, CSRF token and active tab."""
    context.setdefault("today", date.today())
    context.update(
        user=getattr(request.state, "user", None),
        csrf=getattr(request.state, "csrf", ""),
        active=active,
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)

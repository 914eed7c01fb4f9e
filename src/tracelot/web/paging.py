"""Server-side pages of a query: one COUNT and one LIMIT/OFFSET, never the whole list."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracelot.db.sql import AnySelect

PAGE_SIZE = 50
PICKER_LISTED, PICKER_MOST = 50, 1000


def picker_limit(limit: int, quantity: int | None = None) -> int:
    """How many free serials a picker answer lists: the first 50 to browse; "select all up
    to the quantity" asks for as many as the quantity, never more than 1000."""
    ceiling = PICKER_MOST if quantity is None else min(PICKER_MOST, max(PICKER_LISTED, quantity))
    return max(1, min(limit, ceiling))


@dataclass
class Pager:
    rows: list[Any]
    page: int
    pages: int
    total: int
    limit: int

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.limit + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.limit)


def paged(
    session: Session,
    query: AnySelect,
    page: int,
    limit: int = PAGE_SIZE,
    count: AnySelect | None = None,
    total: int | None = None,
) -> Pager:
    """``count``: a cheaper COUNT of the same rows, when the list joins what it displays;
    ``total``: their number, when the caller has it already (no COUNT at all)."""
    if total is None:
        if count is None:
            count = select(func.count()).select_from(query.order_by(None).subquery())
        total = int(session.scalar(count) or 0)
    pages = max(1, math.ceil(total / limit))
    page = min(max(1, page), pages)
    rows = list(session.execute(query.limit(limit).offset((page - 1) * limit)))
    return Pager(rows, page, pages, total, limit)


def url_maker(request: Request) -> Any:
    """``url(page=2)``: the current URL with some query parameters changed."""

    def url(**changes: Any) -> str:
        params = dict(request.query_params)
        for k, v in changes.items():
            if v in (None, "", False):
                params.pop(k, None)
            else:
                params[k] = str(v)
        return request.url.path + ("?" + urlencode(params) if params else "")

    return url

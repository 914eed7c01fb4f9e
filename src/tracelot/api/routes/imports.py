"""E-commerce order import: POST a store's order webhook payload as it is sent."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tracelot.api.deps import api_router, get_caller
from tracelot.api.routes.sales import order_out
from tracelot.domain import errors
from tracelot.services import ecommerce

router = api_router("imports")


@router.post("/imports/orders/{channel}")
async def import_order(channel: str, request: Request) -> Any:
    """Parsed here (not by a schema) so a non-JSON body gets a clear, stable error."""
    raw = await request.body()
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.TracelotError(
            errors.VALIDATION_FAILED,
            f"The body is not JSON ({exc}): send the store's order JSON as its webhook does.",
            [errors.Detail("", errors.VALIDATION_FAILED, "The body is not JSON.")],
            status=400,
        ) from None
    return await run_in_threadpool(_run, request, channel, payload)


def _run(request: Request, channel: str, payload: Any) -> dict[str, Any]:
    factory = request.app.state.sessions
    with factory() as db, db.begin():
        order, created = ecommerce.import_order(db, channel, payload, get_caller(request).name)
        out = order_out(db, order)
    out["import"] = {"channel": channel, "created": created}
    return out

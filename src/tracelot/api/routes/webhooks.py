"""Webhook subscriptions (KATANA_API.md, Webhooks); deliveries are sent after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request, Response
from pydantic import Field
from sqlalchemy import select

from tracelot.api.deps import Db, Paging, allow_filters, api_router, common_filters, paginate
from tracelot.api.schemas import In
from tracelot.api.serialize import clean, iso
from tracelot.db.models import Webhook
from tracelot.services import webhooks
from tracelot.services.common import get

router = api_router("webhooks")


class WebhookIn(In):
    url: str = Field(max_length=1024)
    subscribed_events: list[str] = Field(min_length=1)
    enabled: bool | None = None
    description: str | None = None


class WebhookPatch(In):
    url: str | None = Field(default=None, max_length=1024)
    subscribed_events: list[str] | None = None
    enabled: bool | None = None
    description: str | None = None


def webhook_out(h: Webhook) -> dict[str, Any]:
    return clean(
        {
            "id": h.id,
            "url": h.url,
            "token": h.token,
            "enabled": h.enabled,
            "description": h.description,
            "subscribed_events": webhooks.events_of(h),
            "created_at": iso(h.created_at),
            "updated_at": iso(h.updated_at),
            "deleted_at": iso(_deleted(h)),
        }
    )


def _deleted(h: Webhook) -> datetime | None:
    return h.deleted_at


@router.post("/webhooks")
def create_webhook(body: WebhookIn, db: Db) -> dict[str, Any]:
    return webhook_out(webhooks.create(db, body.model_dump(exclude_unset=True)))


@router.get("/webhooks", dependencies=[allow_filters("url", "enabled")])
def list_webhooks(
    request: Request,
    response: Response,
    db: Db,
    paging: Paging,
    url: str | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    q = common_filters(select(Webhook).order_by(Webhook.id.desc()), Webhook, request)
    if url is not None:
        q = q.where(Webhook.url == url)
    if enabled is not None:
        q = q.where(Webhook.enabled.is_(enabled))
    return {"data": [webhook_out(h) for h in paginate(db, q, paging, response)]}


@router.get("/webhooks/{hook_id}")
def get_webhook(hook_id: int, db: Db) -> dict[str, Any]:
    return webhook_out(get(db, Webhook, hook_id, "Webhook"))


@router.patch("/webhooks/{hook_id}")
def update_webhook(hook_id: int, body: WebhookPatch, db: Db) -> dict[str, Any]:
    return webhook_out(webhooks.update(db, get(db, Webhook, hook_id, "Webhook"), body.sent()))


@router.delete("/webhooks/{hook_id}", status_code=204)
def delete_webhook(hook_id: int, db: Db) -> Response:
    from tracelot.db.base import utcnow

    get(db, Webhook, hook_id, "Webhook").deleted_at = utcnow()
    return Response(status_code=204)

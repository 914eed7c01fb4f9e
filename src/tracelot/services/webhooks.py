"""Webhooks out: subscriptions, an outbox written in the caller's transaction, a sender.

``emit`` only inserts outbox rows, in the same transaction as the change, so a
refused or rolled-back request notifies nobody. After a commit that emitted
something, a per-engine background thread is woken and sends what is due:
POST with ``x-sha2-signature`` (hex HMAC-SHA256 of the raw body keyed by the
webhook's token), retried up to 3 times with exponential back-off
(``X-Katana-Retry-Num`` on retries). ``drain`` is also callable directly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import weakref
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from tracelot.db.base import utcnow
from tracelot.db.models import Webhook, WebhookDelivery
from tracelot.domain import errors

MAX_ATTEMPTS = 4  # the first try and 3 retries
FIELDS = {"url", "enabled", "description"}
_PENDING = "tracelot_webhooks_pending"
_HOOKS = "tracelot_webhooks_enabled"  # (id, events) of enabled webhooks, read once per session
_ENABLED = select(Webhook.id, Webhook.subscribed_events).where(
    Webhook.enabled.is_(True), Webhook.deleted_at.is_(None)
)
# How many webhooks are enabled, for a use case's first read to carry (``prime``).
ENABLED_COUNT = (
    select(func.count())
    .select_from(Webhook)
    .where(Webhook.enabled.is_(True), Webhook.deleted_at.is_(None))
    .scalar_subquery()
)


def backoff_seconds() -> float:
    return float(os.environ.get("TRACELOT_WEBHOOK_BACKOFF", "10"))


def base_uri() -> str:
    return os.environ.get("TRACELOT_BASE_URI", "http://localhost:8000").rstrip("/")


# --- subscriptions ------------------------------------------------------------


def create(session: Session, data: dict[str, Any]) -> Webhook:
    events = _events(data.get("subscribed_events"))
    hook = Webhook(
        url=_url(data.get("url")),
        token=secrets.token_hex(16),
        subscribed_events=json.dumps(events),
        enabled=data.get("enabled", True) if data.get("enabled") is not None else True,
        description=data.get("description"),
    )
    session.add(hook)
    session.flush()
    forget(session)
    return hook


def update(session: Session, hook: Webhook, data: dict[str, Any]) -> Webhook:
    if "url" in data:
        hook.url = _url(data["url"])
    if "subscribed_events" in data:
        hook.subscribed_events = json.dumps(_events(data["subscribed_events"]))
    if data.get("enabled") is not None:
        hook.enabled = bool(data["enabled"])
    if "description" in data:
        hook.description = data["description"]
    hook.updated_at = utcnow()
    session.flush()
    forget(session)
    return hook


def _url(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "url must be an http(s) URL that accepts POST requests.",
            path="url",
        )
    return url


def _events(events: Any) -> list[str]:
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) and "." in e for e in events)
    ):
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "subscribed_events lists event names such as 'sales_order.delivered'.",
            path="subscribed_events",
        )
    return events


def events_of(hook: Webhook) -> list[str]:
    return list(json.loads(hook.subscribed_events or "[]"))


# --- the outbox --------------------------------------------------------------------------------


def emit(
    session: Session, event_name: str, resource_type: str, obj_id: int, status: str | None
) -> int:
    """Queue the event for every enabled webhook subscribed to it; sent after commit."""
    return emit_many(session, event_name, resource_type, [obj_id], status)


def emit_many(
    session: Session,
    event_name: str,
    resource_type: str,
    obj_ids: list[int],
    status: str | None,
) -> int:
    """One event per object, queued in one INSERT; nothing at all without subscribers."""
    hooks = [h for h, events in enabled(session) if event_name in events]
    rows = [
        {
            "webhook_id": h,
            "event": event_name,
            "body": json.dumps(
                {
                    "resource_type": resource_type,
                    "action": event_name,
                    "webhook_id": h,
                    "object": {
                        "id": str(obj_id),
                        "status": status or "",
                        "href": f"{base_uri()}/v1/{_plural(resource_type)}/{obj_id}",
                    },
                },
                separators=(",", ":"),
            ),
        }
        for h in hooks
        for obj_id in obj_ids
    ]
    if rows:
        session.execute(insert(WebhookDelivery), rows)
        session.info[_PENDING] = True
    return len(rows)


def enabled(session: Session) -> list[tuple[int, frozenset[str]]]:
    """Enabled webhooks and their events, read once per session transaction.

    A sales order emits three or four events; without this each one read the
    webhook table. The cache ends with the transaction (commit or rollback), so
    a webhook added by another process is seen by the next request.
    """
    hooks = session.info.get(_HOOKS)
    if hooks is None:
        hooks = [
            (h, frozenset(json.loads(events or "[]")))
            for h, events in session.execute(_ENABLED).all()
        ]
        session.info[_HOOKS] = hooks
    return hooks


def prime(session: Session, enabled_count: int) -> None:
    """A read of this transaction counted the enabled webhooks (``ENABLED_COUNT``).

    None enabled: the events of the use case are queued for nobody, and no SELECT
    of the webhooks is needed. Any enabled: ``enabled`` reads them when first asked.
    """
    if not enabled_count and _HOOKS not in session.info:
        session.info[_HOOKS] = []


def forget(session: Session) -> None:
    """Drop the cached subscribers (a webhook was created, changed or deleted)."""
    session.info.pop(_HOOKS, None)


def _plural(resource_type: str) -> str:
    return resource_type + "s"


def sign(token: str, body: bytes) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def drain(
    sessions: sessionmaker[Session], now: datetime | None = None, timeout: float = 10.0
) -> int:
    """Send every due delivery once; returns how many were delivered."""
    now = now or utcnow()
    with sessions() as s, s.begin():
        due = s.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.body,
                WebhookDelivery.attempts,
                Webhook.url,
                Webhook.token,
            )
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(
                WebhookDelivery.delivered_at.is_(None),
                WebhookDelivery.failed_at.is_(None),
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.id)
            .limit(100)
        ).all()
    sent = 0
    for d in due:
        status, error = _send(d.url, d.token, d.body.encode(), d.attempts, timeout)
        with sessions() as s, s.begin():
            row = s.get(WebhookDelivery, d.id)
            if row is None or row.delivered_at is not None:
                continue
            row.attempts += 1
            row.last_status, row.last_error = status, error
            if status is not None and 200 <= status < 300:
                row.delivered_at = utcnow()
                sent += 1
            elif row.attempts >= MAX_ATTEMPTS:
                row.failed_at = utcnow()
            else:
                row.next_attempt_at = now + timedelta(
                    seconds=backoff_seconds() * 2 ** (row.attempts - 1)
                )
    return sent


def _send(
    url: str, token: str, body: bytes, attempts: int, timeout: float
) -> tuple[int | None, str | None]:
    headers = {"content-type": "application/json", "x-sha2-signature": sign(token, body)}
    if attempts:
        headers["X-Katana-Retry-Num"] = str(attempts)
    try:
        r = httpx.post(url, content=body, headers=headers, timeout=timeout)
        return r.status_code, None if r.is_success else r.text[:500]
    except httpx.HTTPError as exc:
        return None, str(exc)[:500]


# --- the background sender, woken after commit --------------------------------------------------


class Sender:
    """One daemon thread per engine: drains when woken, and when retries fall due."""

    def __init__(self, engine: Engine) -> None:
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="webhooks")
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.wake.wait(timeout=max(1.0, backoff_seconds()))
            self.wake.clear()
            try:
                drain(self.sessions)
            except Exception:  # noqa: BLE001 - a broken database must not kill the thread
                continue


_senders: weakref.WeakKeyDictionary[Engine, Sender] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def sender_for(engine: Engine) -> Sender:
    with _lock:
        if engine not in _senders:
            _senders[engine] = Sender(engine)
        return _senders[engine]


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    forget(session)
    if session.info.pop(_PENDING, False):
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        sender_for(engine).wake.set()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    forget(session)
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    """A webhook written through the ORM (e.g. deleted_at set) invalidates the cache."""
    if _HOOKS in session.info and any(
        isinstance(o, Webhook) for o in (*session.new, *session.dirty, *session.deleted)
    ):
        forget(session)

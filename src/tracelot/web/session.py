"""Sign-in state: a signed session cookie (itsdangerous) and a CSRF token per session.

The cookie carries only the user id and the session's CSRF token, signed with
the app's secret key, so any server process can check it without shared state.
Every POST must send the token back (form field ``csrf_token`` or header
``X-CSRF-Token`` for our fetch() calls); a mismatch is refused with 403.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from tracelot.services import users

COOKIE = "tracelot_session"
MAX_AGE = 12 * 3600  # one working day


class LoginRequired(Exception):
    """Raised by pages when nobody is signed in; answered with a redirect to /login."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token."""


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt="tracelot-web")


def read(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _signer(request).loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None


def start(request: Request, response: Response, user_id: int) -> None:
    token = _signer(request).dumps({"uid": user_id, "csrf": secrets.token_urlsafe(24)})
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def end(response: Response) -> None:
    response.delete_cookie(COOKIE)


def current_user(request: Request) -> str:
    """The signed-in user's name (also kept on request.state for templates). Looked up
    in a worker thread, even on SQLite: it takes a pooled connection, and waiting for
    one on the event loop would stall every request."""
    data = read(request)
    if not data:
        raise LoginRequired
    with request.app.state.read_sessions() as s:
        user = users.get_user(s, int(data["uid"]))
        name = user.username if user else None
    if not name:
        raise LoginRequired
    request.state.user = name
    request.state.csrf = data["csrf"]
    return name


async def check_csrf(request: Request) -> None:
    """Compare the sent token with the session's, in constant time."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    data = read(request) or {}
    sent = request.headers.get("x-csrf-token")
    if not sent:
        form = await request.form()
        sent = str(form.get("csrf_token") or "")
    expected = str(data.get("csrf") or "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise CsrfRefused

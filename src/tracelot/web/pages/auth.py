"""Sign in and out, and the front door."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from tracelot.db.engine import transaction
from tracelot.services import users
from tracelot.web import session
from tracelot.web.render import page

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect off-site after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/")
def home(_user: Annotated[str, Depends(session.current_user)]) -> RedirectResponse:
    return RedirectResponse("/sell", status_code=303)


LOGIN_CSRF = "tracelot_login_csrf"


def _login_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    """The sign-in form carries a double-submit CSRF token (no session exists yet)."""
    token = secrets.token_urlsafe(24)
    request.state.csrf = token
    response = page(request, "login.html", status_code=status_code, **context)
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, next=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_page(
            request,
            next=_safe_next(next),
            username=username,
            status_code=403,
            error="The sign-in form was stale: enter your password again.",
        )
    with transaction(request.app.state.sessions) as s:
        user = users.authenticate(s, username, password)
        uid = user.id if user else None
    if uid is None:
        return _login_page(
            request,
            next=_safe_next(next),
            username=username,
            error="Wrong user name or password. Check both and try again; "
            "an administrator can create users with 'tracelot user create'.",
            status_code=401,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    session.start(request, response, uid)
    response.delete_cookie(LOGIN_CSRF)
    return response


@router.post("/logout", dependencies=[Depends(session.current_user), Depends(session.check_csrf)])
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    session.end(response)
    return response

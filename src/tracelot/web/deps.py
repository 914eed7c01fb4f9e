"""What page handlers share: the signed-in router, sessions, running a write."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from tracelot.api.deps import near_the_data
from tracelot.db.engine import transaction
from tracelot.domain import errors
from tracelot.domain.errors import TracelotError
from tracelot.web.session import check_csrf, current_user

User = Annotated[str, Depends(current_user)]


def signed_in_router() -> APIRouter:
    """Pages behind sign-in; every POST must carry the session's CSRF token."""
    return APIRouter(
        dependencies=[Depends(current_user), Depends(check_csrf)], include_in_schema=False
    )


async def read_session(request: Request) -> AsyncIterator[Session]:
    """A page reads in a read session (on SQLite: no write lock); it changes things
    only through ``write``, in a transaction of its own. Opening it does no I/O and
    closing it little (``near_the_data``): a plain generator took two worker threads."""
    session = request.app.state.read_sessions()
    try:
        yield session
    finally:
        await near_the_data(request, session.close)


# Closed before the response is sent (scope="function"): its snapshot is let go at once.
Db = Annotated[Session, Depends(read_session, scope="function")]


def write[T](
    request: Request, db: Session, fn: Callable[[Session], T]
) -> tuple[T | None, TracelotError | None]:
    """Run one use case in its own transaction; a refusal rolls back and is returned.

    The page's read session ends its transaction first, so the page shown after
    the change reads it (a new snapshot).
    """
    db.rollback()
    try:
        with transaction(request.app.state.sessions) as s:
            return fn(s), None
    except TracelotError as exc:
        return None, exc


def explain(err: TracelotError) -> str:
    """The refusal for a person: its message, plus each detail when there are several."""
    extra = [d.message for d in err.details if d.message and d.message != err.message]
    return " ".join([err.message, *extra[:20]])


def form_date(text: str, path: str = "date") -> date | None:
    """A date from an <input type=date> (empty is None); anything else is refused."""
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"'{text}' is not a date (YYYY-MM-DD).", path=path
        ) from None

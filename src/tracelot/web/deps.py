"""What page handlers share: the signed-in router, sessions, running a write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from tracelot.db.engine import transaction
from tracelot.domain.errors import TracelotError
from tracelot.web.session import check_csrf, current_user

User = Annotated[str, Depends(current_user)]


def signed_in_router() -> APIRouter:
    """Pages behind sign-in; every POST must carry the session's CSRF token."""
    return APIRouter(
        dependencies=[Depends(current_user), Depends(check_csrf)], include_in_schema=False
    )


def read_session(request: Request) -> Any:
    factory = request.app.state.sessions
    with factory() as session:
        yield session


Db = Annotated[Session, Depends(read_session)]


def write[T](
    request: Request, db: Session, fn: Callable[[Session], T]
) -> tuple[T | None, TracelotError | None]:
    """Run one use case in its own transaction; a refusal rolls back and is returned.

    The page's read session ends its transaction first: on SQLite every
    transaction takes the write lock up front, so two open at once would wait.
    """
    db.rollback()
    try:
        with transaction(request.app.state.sessions) as s:
            return fn(s), None
    except TracelotError as exc:
        return None, exc

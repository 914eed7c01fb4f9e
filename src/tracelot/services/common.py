"""Lookups every service needs: fetch-or-404, and applying only the keys sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracelot.db.models import Location
from tracelot.domain import errors


def get[T](
    session: Session,
    model: type[T],
    ident: Any,
    what: str | None = None,
    *,
    path: str | None = None,
) -> T:
    """Fetch by id; a missing (or soft-deleted) id is 404, or 422 when it sits in a body."""
    obj = session.get(model, int(ident)) if ident is not None else None
    if obj is None or getattr(obj, "deleted_at", None) is not None:
        name = what or model.__name__
        if path:
            raise errors.refuse(
                errors.MISSING,
                f"{name} {ident} does not exist: send the id of an existing {name.lower()}.",
                path=path,
            )
        raise errors.NotFound(name, ident)
    return obj


def apply(obj: Any, fields: dict[str, Any], allowed: set[str]) -> None:
    """PATCH semantics: set only the keys that were sent (``None`` clears)."""
    for key, value in fields.items():
        if key in allowed:
            setattr(obj, key, value)


def primary_location(session: Session) -> Location:
    loc = session.scalar(
        select(Location)
        .where(Location.deleted_at.is_(None))
        .order_by(Location.is_primary.desc(), Location.id)
        .limit(1)
    )
    if loc is None:
        raise errors.refuse(
            errors.MISSING, "No location exists yet: create one first.", path="location_id"
        )
    return loc

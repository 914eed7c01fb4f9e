"""Small SQL helpers that hide the two dialects' differences."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

CHUNK = 5000  # parameters per IN list: far under SQLite's and psycopg's limits


def upsert(session: Session, table: Any) -> Any:
    """The dialect's INSERT that supports ON CONFLICT."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks[T](values: Sequence[T] | Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for v in values:
        batch.append(v)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# Any SELECT, whatever its columns (SQLAlchemy 2.1's Select is variadic).
AnySelect = Select[*tuple[Any, ...]]


def table(model: Any) -> Table:
    """A model's Core table, for bulk INSERTs that skip the ORM's per-row bookkeeping."""
    return cast(Table, model.__table__)

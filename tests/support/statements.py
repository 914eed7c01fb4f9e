"""Counting the SQL statements a piece of work issues (N+1 guards count, never time).

Only the work's own statements: the webhook sender's daemon thread (one per engine,
started by any commit that queued a delivery) polls the same engine about once a
second, and a poll that fell inside a counted window made a page count one too many.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

SENDER_THREAD = "webhooks"  # tracelot.services.webhooks.Sender


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """The statements run on ``engine`` inside the block, in order, whitespace folded."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread().name != SENDER_THREAD:
            statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)

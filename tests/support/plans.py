"""SQLite's query plans of the statements a piece of code really sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def plans(engine: Engine, run: Callable[[], Any]) -> list[tuple[str, list[str]]]:
    """Run ``run()`` and return each SELECT it sent with SQLite's EXPLAIN QUERY PLAN."""
    seen: list[tuple[str, Any]] = []

    def listen(_c: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    with engine.connect() as c:
        return [
            (stmt, [r[-1] for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params)])
            for stmt, params in seen
        ]

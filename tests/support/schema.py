"""Schema set-up shared by fixtures and by tests that manage databases themselves."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import Engine, text

import tracelot.db.models  # noqa: F401
from tracelot.db.base import Base
from tracelot.db.engine import make_engine

_migrated: dict[str, Engine] = {}


def throwaway_sqlite_url(name: str) -> str:
    """A SQLite file in a folder of its own, removed when this process ends: a module's
    app is built while tests are collected, in every worker, where no fixture runs to
    remove it (each run left two fuzzing databases per worker in /tmp)."""
    folder = tempfile.mkdtemp(prefix="tracelot-test-")
    atexit.register(shutil.rmtree, folder, True)
    return f"sqlite:///{Path(folder) / name}"


def engine_for(url: str) -> Engine:
    if url not in _migrated:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        _migrated[url] = engine
    return _migrated[url]


def empty_all(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
            conn.execute(text("DELETE FROM sqlite_sequence")) if _has_sequence(conn) else None


def _has_sequence(conn: object) -> bool:
    return bool(
        conn.execute(
            text(  # type: ignore[attr-defined]
                "SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'"
            )
        ).first()
    )

"""Engines and sessions: SQLite (WAL, foreign keys) or PostgreSQL, chosen by URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kw: Any) -> Engine:
    """Create an engine; on SQLite every write transaction takes the lock up front."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)
        _sqlite_setup(engine)
        return engine
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, connect_args=PG_SESSION, **kw)


# No JIT and no parallel workers: compiling, or starting workers, cost more than running
# every statement measured (a recall's grouped reads; a trace page's serials, 1 ms alone,
# 8 ms with two workers); room for the id tables of large traces (``ids_in``) in memory.
PG_SESSION = {"options": "-c jit=off -c max_parallel_workers_per_gather=0 -c temp_buffers=32MB"}


READ_ONLY = "tracelot_read_only"  # execution option of the engine behind read sessions


def _sqlite_setup(engine: Engine) -> None:
    """WAL for readers beside a writer; BEGIN IMMEDIATE so two writers never deadlock.

    A read session's transaction (``make_sessionmaker(read_only=True)``) begins
    deferred instead: it reads one snapshot and never takes the write lock, so a
    recall of several seconds no longer holds up every sale at the packing bench
    (each of them waited for the lock until the report was done). ``query_only``
    makes a write in one fail at once, rather than wait for that lock.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        reading = bool(conn.get_execution_options().get(READ_ONLY))
        known = conn.connection.info  # kept with the pooled connection
        if known.get(READ_ONLY, False) != reading:  # switched only when it changes
            conn.exec_driver_sql(f"PRAGMA query_only={'ON' if reading else 'OFF'}")
            known[READ_ONLY] = reading
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for use cases; ``read_only`` for those that only read (GET requests):
    on SQLite they leave the write lock to writers (``_sqlite_setup``). PostgreSQL's
    readers never block writers, and its transactions stay READ WRITE: a large trace
    or recall creates temporary id tables (``tracing_context.id_table``), which a READ
    ONLY transaction refuses (``CREATE``), as ``bench.scale``'s recall found."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One use case, one transaction: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session

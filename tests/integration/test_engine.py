"""How the engine sets up its database sessions."""

from __future__ import annotations

from sqlalchemy import text

from tracelot.db.engine import make_engine


def test_postgresql_sessions_neither_jit_compile_nor_start_parallel_workers(pg_server_url):
    """Both cost more than the statements they were meant to speed up (a trace's page of
    serials: 1 ms alone, 8 ms with two workers; JIT compiled a recall's grouped reads)."""
    engine = make_engine(pg_server_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SHOW jit")) == "off"
            assert conn.scalar(text("SHOW max_parallel_workers_per_gather")) == "0"
    finally:
        engine.dispose()

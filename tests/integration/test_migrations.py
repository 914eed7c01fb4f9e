"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import tracelot.db.models  # noqa: F401
from support.schema import throwaway_sqlite_url
from tracelot.db.base import Base
from tracelot.db.engine import make_engine
from tracelot.db.migrate import upgrade


def _diff(url: str) -> list[object]:
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return list(compare_metadata(ctx, Base.metadata))


def test_migrations_match_the_models_on_sqlite():
    assert _diff(throwaway_sqlite_url("m.db")) == []


def test_migrations_match_the_models_on_postgresql(pg_server_url):
    from pg_server import create_database

    assert _diff(create_database(pg_server_url, "tracelot_migrations")) == []

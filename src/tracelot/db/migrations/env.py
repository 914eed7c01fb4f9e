"""Alembic environment: the URL comes from the config that ``migrate.py`` builds."""

from __future__ import annotations

from alembic import context

from tracelot.db import models  # noqa: F401  (registers every table)
from tracelot.db.base import Base
from tracelot.db.engine import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()

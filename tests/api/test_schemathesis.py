"""Generated requests from our own OpenAPI document never make the server fail (5xx).

Whatever a client sends — wrong types, huge numbers, odd strings, unknown ids —
the answer is a clear 4xx, never a crash. Runs the real app in-process on a
SQLite file with the demo data.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

import tracelot.db.models  # noqa: F401
from support.schema import throwaway_sqlite_url
from tracelot.api.app import create_app
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, transaction
from tracelot.services import demo
from tracelot.services.auth import create_token

_engine = make_engine(throwaway_sqlite_url("fuzz.db"))
Base.metadata.create_all(_engine)
app = create_app(engine=_engine)
with transaction(app.state.sessions) as _s:
    demo.load(_s)
    AUTH = {"Authorization": f"Bearer {create_token(_s, 'fuzz')}"}

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.include(path_regex=r"^/v1/").parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_answers_any_generated_request_without_a_server_error(case):
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error])

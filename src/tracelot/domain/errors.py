"""One exception family for every refused request.

Each error carries a stable ``code`` (KATANA_API.md §4) and details that name
the field and what to do about it, so the API, the CLI and the pages can all
explain a refusal the same way without knowing which rule produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Detail:
    """One thing wrong with a request: where, which rule, what to do."""

    path: str
    code: str
    message: str
    info: dict[str, Any] | None = None


@dataclass
class TracelotError(Exception):
    """A request that breaks a rule; it changes nothing."""

    code: str
    message: str
    details: list[Detail] = field(default_factory=list)
    status: int = 422

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if not self.details:
            self.details = [Detail(path="", code=self.code, message=self.message)]

    def __str__(self) -> str:
        return self.message


class NotFound(TracelotError):
    """An id that names nothing: 404, not 422."""

    def __init__(self, what: str, ident: object) -> None:
        super().__init__("NOT_FOUND", f"{what} {ident} does not exist.", status=404)


def refuse(code: str, message: str, path: str = "", **info: Any) -> TracelotError:
    """Build a single-detail refusal; the message says what was wrong and how to fix it."""
    return TracelotError(code, message, [Detail(path, code, message, info or None)])


def refuse_many(details: list[Detail]) -> TracelotError:
    """Several problems at once (e.g. every bad serial in a paste): the first names the code."""
    first = details[0]
    more = f" (and {len(details) - 1} more problem(s))" if len(details) > 1 else ""
    return TracelotError(first.code, first.message + more, details)


# Stable domain codes (KATANA_API.md §4 plus tracelot's own).
DUPLICATE = "DUPLICATE"
MISSING = "MISSING"
NOT_IN_STOCK = "NOT_IN_STOCK"
QUANTITY_EXCEEDED = "QUANTITY_EXCEEDED"
QUANTITY_MISMATCH = "QUANTITY_MISMATCH"
NOT_SERIAL_TRACKED = "NOT_SERIAL_TRACKED"
NOT_BATCH_TRACKED = "NOT_BATCH_TRACKED"
WRONG_BATCH = "WRONG_BATCH"
IN_USE = "IN_USE"
ORDER_DELIVERED = "ORDER_DELIVERED"
ALREADY_LINKED = "ALREADY_LINKED"
STATUS_FROM_FULFILLMENTS = "STATUS_FROM_FULFILLMENTS"
TRACKING_CONFLICT = "TRACKING_CONFLICT"
TRACKING_SWITCH_REFUSED = "TRACKING_SWITCH_REFUSED"
CONFIRMATION_REQUIRED = "CONFIRMATION_REQUIRED"
UNSUPPORTED_FILTER = "UNSUPPORTED_FILTER"
VALIDATION_FAILED = "VALIDATION_FAILED"
INVALID_SERIAL = "INVALID_SERIAL"
INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
ON_HOLD = "ON_HOLD"
EXPIRED_BATCH = "EXPIRED_BATCH"
INVALID_CSV = "INVALID_CSV"
RESERVED_BATCH_NUMBER = "RESERVED_BATCH_NUMBER"

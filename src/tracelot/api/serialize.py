"""Katana's wire format: ISO dates with milliseconds and Z, decimal strings, no nulls."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tracelot.domain import errors


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dec(value: Decimal | float | int | None) -> str | None:
    """A decimal string without trailing zeros: '5', '2.5'."""
    if value is None:
        return None
    d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    if d == d.to_integral_value():
        return str(d.quantize(Decimal(1)))
    return format(d.normalize(), "f")


def num(value: Decimal | float | int | None) -> float | int | None:
    """A JSON number, integral when it is whole (Katana's number-typed quantities)."""
    if value is None:
        return None
    d = Decimal(str(value))
    return int(d) if d == d.to_integral_value() else float(d)


def clean(value: Any) -> Any:
    """Drop None values recursively: the client crashes on null where it expects a value."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def parse_datetime(text: str, path: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"'{text}' is not an ISO 8601 date-time (e.g. 2026-11-24T09:30:00Z).",
            path=path,
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)

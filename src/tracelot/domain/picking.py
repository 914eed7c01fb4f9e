"""Which batches and serials may be picked, and in what order (FEFO).

First-expired-first-out: batches with the earliest expiry go first, batches
without an expiry last; an expired batch is never proposed (nor accepted)
unless the caller explicitly allows it, and a batch on hold never is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tracelot.domain import errors


@dataclass(frozen=True)
class BatchStock:
    batch_id: int
    batch_number: str
    expiration_date: date | None
    available: Decimal
    hold_reason: str | None = None


@dataclass(frozen=True)
class Pick:
    batch_id: int
    batch_number: str
    quantity: Decimal
    expiration_date: date | None = None
    expired: bool = False


@dataclass(frozen=True)
class Proposal:
    picks: list[Pick]
    short: Decimal  # quantity no allowed batch could cover


def is_expired(expiry: date | None, today: date) -> bool:
    """A batch is good through its expiry day."""
    return expiry is not None and expiry < today


def fefo(
    stocks: Iterable[BatchStock], quantity: Decimal, today: date, allow_expired: bool = False
) -> Proposal:
    """Earliest expiry first, spanning batches until the quantity is covered."""
    usable = [
        s
        for s in stocks
        if s.available > 0
        and s.hold_reason is None
        and (allow_expired or not is_expired(s.expiration_date, today))
    ]
    usable.sort(
        key=lambda s: (
            s.expiration_date is None,
            s.expiration_date or date.max,
            s.batch_number,
            s.batch_id,
        )
    )
    picks, left = [], quantity
    for s in usable:
        if left <= 0:
            break
        take = min(left, s.available)
        picks.append(
            Pick(
                s.batch_id,
                s.batch_number,
                take,
                s.expiration_date,
                is_expired(s.expiration_date, today),
            )
        )
        left -= take
    return Proposal(picks, max(left, Decimal(0)))


def check_pickable(batch: BatchStock, today: date, allow_expired: bool, path: str) -> None:
    """Refuse a held batch, or an expired one unless explicitly allowed."""
    if batch.hold_reason:
        raise errors.refuse(
            errors.ON_HOLD,
            f"Batch '{batch.batch_number}' is on hold "
            f"({batch.hold_reason}): release the hold or pick another batch.",
            path=path,
            batch_number=batch.batch_number,
        )
    if not allow_expired and is_expired(batch.expiration_date, today):
        raise errors.refuse(
            errors.EXPIRED_BATCH,
            f"Batch '{batch.batch_number}' expired on "
            f"{batch.expiration_date}: pick another batch, or send "
            "allow_expired=true to ship it anyway.",
            path=path,
            batch_number=batch.batch_number,
        )

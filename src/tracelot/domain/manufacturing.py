"""Manufacturing rules: recipe scaling, MO status, FEFO batch allocation.

Plain Python, no I/O: the services gather the facts (picks, batch stock,
expiry, holds) and these functions decide what an MO consumes and becomes.
Whether an MO not started is BLOCKED depends on live stock, so that rule is one
SQL expression in ``services/manufacturing.py`` (``status_column``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tracelot.domain import errors

STATUSES = ("NOT_STARTED", "BLOCKED", "IN_PROGRESS", "PARTIALLY_COMPLETED", "DONE")


def consumption(per_unit: Decimal, completed: Decimal) -> Decimal:
    """What one recipe row consumes for ``completed`` units of output."""
    return per_unit * completed


def status_after(planned: Decimal, completed: Decimal, is_final: bool, before: str) -> str:
    """The MO status once ``completed`` units (in total) have been produced."""
    if is_final or (completed >= planned > 0):
        return "DONE"
    if completed > 0:
        return "PARTIALLY_COMPLETED"
    return before if before in ("NOT_STARTED", "BLOCKED", "IN_PROGRESS") else "NOT_STARTED"


@dataclass(frozen=True)
class BatchStock:
    """A batch of an ingredient on hand where the MO is made."""

    batch_id: int
    batch_number: str
    quantity: Decimal
    expiration_date: date | None = None
    hold_reason: str | None = None


def is_expired(b: BatchStock, today: date) -> bool:
    return b.expiration_date is not None and b.expiration_date < today


def fefo_order(stock: list[BatchStock]) -> list[BatchStock]:
    """First expired, first out; batches without expiry last, then by id."""
    return sorted(
        stock, key=lambda b: (b.expiration_date is None, b.expiration_date or date.max, b.batch_id)
    )


def allocate(
    need: Decimal,
    picks: list[tuple[int, Decimal | None]],
    stock: list[BatchStock],
    today: date,
    allow_expired: bool = False,
    path: str = "batch_transactions",
    strict: bool = True,
) -> list[tuple[int, Decimal]]:
    """Which batches (and how much of each) cover ``need``.

    The explicit picks come first, in order (refused when expired without
    ``allow_expired`` or on hold). A pick with a quantity takes it: when
    ``strict``, refused if the batch holds less, else it takes what its batch
    still holds. A pick without a quantity (``None``) takes what its batch
    holds, up to what is still needed (when ``strict``, refused if it holds
    nothing here). Then FEFO over the remaining usable stock. ``allow_expired``
    is about the batches the caller named: FEFO never takes an expired or
    on-hold batch.
    """
    by_id = {b.batch_id: b for b in stock}
    taken: dict[int, Decimal] = {}
    left = need
    for batch_id, qty in picks:
        if left <= 0:
            break
        b = by_id.get(batch_id)
        free = (b.quantity if b else Decimal(0)) - taken.get(batch_id, Decimal(0))
        if qty is None:
            amount = min(left, free) if free > 0 else (left if strict else Decimal(0))
        else:
            amount = min(qty, left) if strict else min(qty, left, free)
        if amount <= 0:
            continue
        _check_pick(
            b, batch_id, amount + taken.get(batch_id, Decimal(0)), today, allow_expired, path
        )
        taken[batch_id] = taken.get(batch_id, Decimal(0)) + amount
        left -= amount
    for b in fefo_order(stock):
        if left <= 0:
            break
        if b.hold_reason or is_expired(b, today):
            continue
        free = b.quantity - taken.get(b.batch_id, Decimal(0))
        if free <= 0:
            continue
        amount = min(free, left)
        taken[b.batch_id] = taken.get(b.batch_id, Decimal(0)) + amount
        left -= amount
    if left > 0:
        usable = sum(
            (
                b.quantity
                for b in stock
                if b.batch_id in taken or not (b.hold_reason or is_expired(b, today))
            ),
            Decimal(0),
        )
        raise errors.refuse(
            errors.INSUFFICIENT_STOCK,
            f"Needs {_fmt(need)} but only "
            f"{_fmt(usable)} is in usable batches (not expired, not on hold): "
            "receive or produce more, or lower the quantity.",
            path=path,
        )
    return [(bid, q) for bid, q in taken.items() if q > 0]


def _check_pick(
    b: BatchStock | None,
    batch_id: int,
    amount: Decimal,
    today: date,
    allow_expired: bool,
    path: str,
) -> None:
    if b is None or b.quantity < amount:
        held = b.quantity if b else Decimal(0)
        name = b.batch_number if b else str(batch_id)
        raise errors.refuse(
            errors.NOT_IN_STOCK,
            f"Batch '{name}' holds {_fmt(held)} here; "
            f"cannot consume {_fmt(amount)}. Pick another batch as well.",
            path=path,
            batch_id=batch_id,
        )
    if b.hold_reason:
        raise errors.refuse(
            errors.ON_HOLD,
            f"Batch '{b.batch_number}' is on hold "
            f"({b.hold_reason}): release it or pick another batch.",
            path=path,
            batch_id=batch_id,
        )
    if is_expired(b, today) and not allow_expired:
        raise errors.refuse(
            errors.EXPIRED_BATCH,
            f"Batch '{b.batch_number}' expired on "
            f"{b.expiration_date}: pick another batch, or send "
            "allow_expired: true to use it anyway.",
            path=path,
            batch_id=batch_id,
        )


def _fmt(q: Decimal) -> str:
    return format(q.normalize(), "f")

"""Quality holds and recalls on batches and serials.

A hold (or a recall, which is a hold that says so) keeps the units where they
are but blocks them from being picked, consumed or shipped. The ledger checks
outgoing deliveries and consumptions itself (``ledger._post_one``), so a
document that forgets to ask still cannot ship held stock; services that pick
call ``check_not_on_hold`` first so their error names the hold before anything
is written.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import literal, select, union_all, update
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import Batch, Serial
from tracelot.domain import errors

RECALL_PREFIX = "RECALLED: "
BLOCKED_REASONS = ("delivery", "consumption")  # ledger reasons a hold blocks


def hold_text(reason: str, recall: bool) -> str:
    reason = reason.strip() or "quality hold"
    return RECALL_PREFIX + reason if recall and not reason.startswith(RECALL_PREFIX) else reason


def put_batch_hold(session: Session, batch_id: int, reason: str, recall: bool = False) -> Batch:
    batch = _get(session, Batch, batch_id, "Batch")
    batch.hold_reason = hold_text(reason, recall)[:255]
    batch.updated_at = utcnow()
    session.flush()
    return batch


def release_batch(session: Session, batch_id: int) -> Batch:
    batch = _get(session, Batch, batch_id, "Batch")
    batch.hold_reason = None
    batch.updated_at = utcnow()
    session.flush()
    return batch


def put_serial_hold(
    session: Session, serial_ids: list[int], reason: str, recall: bool = False
) -> None:
    """Hold many serials in one statement (a recall often names hundreds)."""
    _check_exist(session, serial_ids)
    session.execute(
        update(Serial)
        .where(Serial.id.in_(serial_ids))
        .values(hold_reason=hold_text(reason, recall)[:255], updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def release_serials(session: Session, serial_ids: list[int]) -> None:
    _check_exist(session, serial_ids)
    session.execute(
        update(Serial)
        .where(Serial.id.in_(serial_ids))
        .values(hold_reason=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def check_not_on_hold(
    session: Session,
    batch_ids: Iterable[int | None] = (),
    serial_ids: Iterable[int] = (),
    path: str = "",
) -> None:
    """Refuse (ON_HOLD, naming each hold) when any named batch or serial is held.

    One query for both kinds; call it before picking, consuming or shipping.
    """
    bids = sorted({b for b in batch_ids if b})
    sids = sorted(set(serial_ids))
    parts = []
    if bids:
        parts.append(
            select(
                literal("batch").label("kind"), Batch.batch_number.label("name"), Batch.hold_reason
            ).where(Batch.id.in_(bids), Batch.hold_reason.is_not(None))
        )
    if sids:
        parts.append(
            select(
                literal("serial").label("kind"),
                Serial.serial_number.label("name"),
                Serial.hold_reason,
            ).where(Serial.id.in_(sids), Serial.hold_reason.is_not(None))
        )
    if not parts:
        return
    held = session.execute(
        union_all(*parts).limit(50) if len(parts) > 1 else parts[0].limit(50)
    ).all()
    if held:
        raise errors.refuse_many(
            [
                errors.Detail(
                    path or ("batch_id" if h.kind == "batch" else "serial_numbers"),
                    errors.ON_HOLD,
                    f"{h.kind.capitalize()} '{h.name}' is on hold ({h.hold_reason}): "
                    f"release the hold (DELETE its hold) or pick another {h.kind}.",
                    {h.kind + "_number": h.name, "hold_reason": h.hold_reason},
                )
                for h in held
            ]
        )


def _get(session: Session, model: type, ident: int, what: str):  # type: ignore[no-untyped-def]
    obj = session.get(model, ident)
    if obj is None:
        raise errors.NotFound(what, ident)
    return obj


def _check_exist(session: Session, serial_ids: list[int]) -> None:
    found = set(session.scalars(select(Serial.id).where(Serial.id.in_(serial_ids))))
    missing = [i for i in serial_ids if i not in found]
    if missing:
        raise errors.refuse(
            errors.MISSING, f"Serial number id {missing[0]} does not exist.", path="ids"
        )

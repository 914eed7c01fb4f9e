"""Sequence numbers handed out atomically, and serials generated from a pattern.

``take`` reserves ``count`` numbers of a series with one conditional UPDATE ...
RETURNING on ``number_counters``: on PostgreSQL the row lock makes a second
concurrent transaction wait and then read the first one's result, so two
productions in two processes never get the same number; on SQLite the write
transaction (BEGIN IMMEDIATE) serialises them. Numbers that already exist
(typed in by hand) are skipped, and the unique constraint on serials is the
backstop.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tracelot.db.models import NumberCounter, Serial, Variant
from tracelot.db.sql import chunks, upsert
from tracelot.domain import numbering

MAX_ROUNDS = 50


def take(session: Session, key: str, count: int) -> int:
    """Reserve ``count`` consecutive numbers of ``key``; returns the first."""
    session.execute(
        upsert(session, NumberCounter)
        .values(key=key, value=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    last = session.execute(
        update(NumberCounter)
        .where(NumberCounter.key == key)
        .values(value=NumberCounter.value + count)
        .returning(NumberCounter.value)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(last) - count + 1


def serial_numbers(session: Session, variant: Variant, count: int, when: date) -> list[str]:
    """``count`` new serial numbers for the variant's item, from its pattern.

    Never reuses a number: the counter only goes up, and numbers that exist
    already for the item are skipped (a few more are taken instead).
    """
    series = numbering.series(variant.item.serial_pattern, when, variant.sku)
    key = f"serial:{variant.item_id}:{series.key}"[:160]
    out: list[str] = []
    for _ in range(MAX_ROUNDS):
        need = count - len(out)
        if need <= 0:
            break
        candidates = series.numbers(take(session, key, need), need)
        taken: set[str] = set()
        for part in chunks(candidates):
            taken.update(
                session.scalars(
                    select(Serial.serial_number).where(
                        Serial.item_id == variant.item_id, Serial.serial_number.in_(part)
                    )
                )
            )
        out += [c for c in candidates if c not in taken]
    return out

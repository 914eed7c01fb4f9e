"""Receiving 20,000 serials in one adjustment is set-based (issue 2, acceptance 3)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.models import Movement, Serial, SerialTransaction
from tracelot.domain.errors import TracelotError


def test_receiving_20000_serials_in_one_adjustment_takes_a_bounded_number_of_statements(
    sessions, engine
):
    w = World(sessions).setup()
    _, (variant,) = w.item("Sensor", "serial")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        w.adjust(
            [
                {
                    "variant_id": variant,
                    "quantity": 20_000,
                    "serial_numbers": ["SN-000001..SN-020000"],
                }
            ]
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # A per-serial loop would issue 20,000+ statements; batched INSERTs issue a few dozen.
    from collections import Counter

    assert len(statements) < 120, Counter(s[:60] for s in statements).most_common(3)
    with w.tx() as s:
        assert (
            s.scalar(select(func.count()).select_from(Serial).where(Serial.status == "in_stock"))
            == 20_000
        )
        assert s.scalar(select(func.count()).select_from(SerialTransaction)) == 20_000
        check_ledger(s)


def test_a_receipt_of_many_serials_links_each_once_by_a_select_per_chunk(sessions, engine):
    """The links are INSERT ... SELECT over the serials' ids (a statement per 5,000), not
    a parameter set per serial; each carries the receipt's movement, reason, user and date."""
    w = World(sessions).setup()
    _, (variant,) = w.item("Sensor", "serial")
    inserts: list[bool] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO serial_transactions"):
            inserts.append(executemany)

    event.listen(engine, "before_cursor_execute", count)
    try:
        w.adjust([{"variant_id": variant, "quantity": 12_000, "serial_numbers": ["A1..A12000"]}])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert inserts == [False, False, False]
    with w.tx() as s:
        (movement,) = s.scalars(select(Movement).where(Movement.variant_id == variant)).all()
        st = SerialTransaction
        cols = [st.movement_id, st.resource_type, st.resource_id, st.quantity_change]
        cols += [st.is_active, st.reason, st.user, st.transaction_date]
        links = s.execute(
            select(*cols, func.count(), func.count(func.distinct(st.serial_id))).group_by(*cols)
        ).all()
        assert links == [
            (
                movement.id,
                movement.resource_type,
                movement.resource_id,
                1,
                True,
                "adjustment",
                "test",
                movement.movement_date,
                12_000,
                12_000,
            )
        ]
        check_ledger(s)


def test_taking_out_many_serials_links_each_once_and_one_not_on_hand_refuses_all(sessions):
    """The set-based links serve outgoing changes too (quantity change -1); a serial that
    is not on hand refuses the whole change, links included (one transaction)."""
    w = World(sessions).setup()
    _, (variant,) = w.item("Sensor", "serial")
    w.adjust([{"variant_id": variant, "quantity": 60, "serial_numbers": ["B1..B60"]}])
    w.adjust([{"variant_id": variant, "quantity": -30, "serial_numbers": ["B1..B30"]}])
    st = SerialTransaction
    with w.tx() as s:
        out = s.execute(
            select(func.count(), func.count(func.distinct(st.serial_id))).where(
                st.quantity_change == -1
            )
        ).one()
        assert tuple(out) == (30, 30)
        before = ledger_snapshot(s)
    with pytest.raises(TracelotError):  # B30 left already; B31..B60 are on hand
        w.adjust([{"variant_id": variant, "quantity": -31, "serial_numbers": ["B30..B60"]}])
    with w.tx() as s:
        assert ledger_snapshot(s) == before
        on_hand = select(func.count()).select_from(Serial).where(Serial.status == "in_stock")
        assert s.scalar(on_hand) == 30
        check_ledger(s)

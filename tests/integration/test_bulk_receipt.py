"""Receiving 20,000 serials in one adjustment is set-based (issue 2, acceptance 3)."""

from __future__ import annotations

from sqlalchemy import event, func, select

from support.world import World, check_ledger
from tracelot.db.models import Serial, SerialTransaction


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

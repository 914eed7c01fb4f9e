"""Two server processes racing for the same stock on PostgreSQL never overdraw it.

The ledger takes stock with a conditional UPDATE and reserves serials with a
conditional UPDATE checked by row count, so the database decides the race:
this holds across processes, not only threads of one process.
"""

from __future__ import annotations

import multiprocessing as mp
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from support.world import World, check_ledger
from tracelot.db.models import Serial, Stock


def _take(url: str, location_id: int, row: dict, barrier, results) -> None:  # type: ignore[no-untyped-def]
    from tracelot.db.engine import make_engine, make_sessionmaker, transaction
    from tracelot.domain.errors import TracelotError
    from tracelot.services import adjustments

    sessions = make_sessionmaker(make_engine(url))
    barrier.wait()
    try:
        with transaction(sessions) as s:
            adjustments.create(
                s, {"location_id": location_id, "stock_adjustment_rows": [row]}, "racer"
            )
        results.put("ok")
    except TracelotError as exc:
        results.put(exc.code)


def _race(url: str, location_id: int, rows: list[dict]) -> list[str]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(len(rows)), ctx.Queue()
    procs = [
        ctx.Process(target=_take, args=(url, location_id, row, barrier, results)) for row in rows
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    return sorted(results.get(timeout=5) for _ in procs)


def test_two_processes_taking_more_than_is_on_hand_leave_it_at_zero_or_above(
    pg_server_url, sessions, engine
):
    if engine.dialect.name != "postgresql":
        pytest.skip("a cross-process race needs PostgreSQL; SQLite serialises writers")
    w = World(sessions).setup()
    _, (v,) = w.item("Bolt")
    w.adjust([{"variant_id": v, "quantity": 10}])
    outcome = _race(
        str(engine.url.render_as_string(hide_password=False)),
        w.location_id,
        [{"variant_id": v, "quantity": -6}, {"variant_id": v, "quantity": -6}],
    )
    assert outcome == ["INSUFFICIENT_STOCK", "ok"]
    with w.tx() as s:
        assert s.scalar(select(func.sum(Stock.quantity)).where(Stock.variant_id == v)) == Decimal(4)
        check_ledger(s)


def test_two_processes_removing_the_same_serial_remove_it_once(pg_server_url, sessions, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("a cross-process race needs PostgreSQL; SQLite serialises writers")
    w = World(sessions).setup()
    _, (v,) = w.item("Meter", "serial")
    w.adjust([{"variant_id": v, "quantity": 2, "serial_numbers": ["M-1", "M-2"]}])
    row = {"variant_id": v, "quantity": -1, "serial_numbers": ["M-1"]}
    outcome = _race(
        str(engine.url.render_as_string(hide_password=False)), w.location_id, [row, row]
    )
    assert outcome[1] == "ok" and outcome[0] != "ok"
    with w.tx() as s:
        assert (
            s.scalar(select(func.count()).select_from(Serial).where(Serial.status == "removed"))
            == 1
        )
        check_ledger(s)

"""Two server processes assigning overlapping serials on PostgreSQL (issue 3, acceptance 3).

Each process assigns every contested serial to its own order, one request
(transaction) per serial, starting together at a barrier. The conditional
hold must let exactly one of them win each serial; no serial is held twice.
"""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import func, select

from support.schema import empty_all, engine_for
from support.world import World, check_ledger
from tracelot.db.models import Serial
from tracelot.services import catalog, sales

N = 30


def _worker(url: str, row_id: int, serial_ids: list[int], barrier, out) -> None:  # type: ignore[no-untyped-def]
    from tracelot.db.engine import make_engine, make_sessionmaker, transaction
    from tracelot.domain import errors
    from tracelot.services import sales as svc

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    won, lost = [], []
    barrier.wait()
    for sid in serial_ids:
        try:
            with transaction(sessions) as s:
                svc.assign_serials(s, s.get(svc.SalesOrderRow, row_id), [sid], "race")
            won.append(sid)
        except errors.TracelotError as exc:
            assert exc.code == "NOT_IN_STOCK", exc
            lost.append(sid)
    engine.dispose()
    out.put((row_id, won, lost))


def test_two_processes_never_hold_the_same_serial(pg_server_url):
    engine = engine_for(pg_server_url)
    empty_all(engine)
    from tracelot.db.engine import make_sessionmaker

    w = World(make_sessionmaker(engine)).setup()
    _, (vid,) = w.item("Grinder", "serial")
    w.adjust([{"variant_id": vid, "quantity": N, "serial_numbers": [f"R-001..R-{N:03d}"]}])
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Race"}).id
        rows = []
        for _ in range(2):
            o = sales.create_order(
                s,
                {"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": N}]},
                "t",
            )
            rows.append(sales.live_rows(s, o.id)[0].id)
        ids = list(s.scalars(select(Serial.id).order_by(Serial.id)))
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(pg_server_url, rows[0], ids, barrier, out)),
        ctx.Process(target=_worker, args=(pg_server_url, rows[1], ids[::-1], barrier, out)),
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    won = {rid: set(w_) for rid, w_, _ in results}
    assert won[rows[0]].isdisjoint(won[rows[1]])
    assert won[rows[0]] | won[rows[1]] == set(ids)  # exactly one winner per serial
    with w.tx() as s:
        held = dict(
            s.execute(
                select(Serial.holder_id, func.count())
                .where(Serial.holder_type == "SalesOrderRow")
                .group_by(Serial.holder_id)
            ).all()
        )
        assert held == {r: len(won[r]) for r in rows if won[r]}
        check_ledger(s)

"""Two server processes racing for serials on PostgreSQL (issue 3, acceptance 3).

Each process runs its requests one transaction each, and both wait at a barrier
before every request, so every round is a real race for the same rows:

- the same serials, in the same order, each to its own order's row;
- overlapping multi-serial requests (all or none), two contested serials each;
- different serials onto one row with room for only one of them.

The conditional hold must let exactly one request win each contested serial,
a losing multi-serial request must take none of its serials, and a row never
holds more serials than its quantity. Last, a store order re-sent while its
first import is committing is imported once, and the re-send answers with it.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

from sqlalchemy import func, select

from support.schema import empty_all, engine_for
from support.world import World, check_ledger
from tracelot.db.models import Serial, SerialTransaction
from tracelot.services import catalog, sales

N = 30  # single-serial rounds
M = 12  # multi-serial rounds
R = 8  # rows of quantity 1 raced for


def _worker(  # type: ignore[no-untyped-def]
    url: str, rounds: list[tuple[int, list[int]]], barrier, out, tag: str, slow: bool = False
) -> None:
    """Assign ``serials`` to ``row`` for each round; report (won, refusal code) per round."""
    import time

    from tracelot.db.engine import make_engine, make_sessionmaker, transaction
    from tracelot.domain import errors
    from tracelot.services import sales as svc

    if slow:  # widen the window between counting a row's serials and holding new ones
        counted = svc._assigned

        def _slow_assigned(*args: Any, **kw: Any) -> Any:
            n = counted(*args, **kw)
            time.sleep(0.3)
            return n

        svc._assigned = _slow_assigned  # type: ignore[assignment]

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    results: list[tuple[bool, str | None]] = []
    for row_id, serial_ids in rounds:
        barrier.wait(timeout=60)
        try:
            with transaction(sessions) as s:
                row = s.get(svc.SalesOrderRow, row_id)
                assert row is not None
                svc.assign_serials(s, row, serial_ids, "race")
            results.append((True, None))
        except errors.TracelotError as exc:
            results.append((False, exc.code))
    engine.dispose()
    out.put((tag, results))


def _race(url: str, a: list[Any], b: list[Any], slow: bool = False) -> dict[str, list[Any]]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, rounds, barrier, out, tag, slow))
        for tag, rounds in (("a", a), ("b", b))
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def _world(url: str, serials: int, quantities: list[int]) -> tuple[World, list[int], list[int]]:
    """Serials R-001.. in stock and one single-row order per quantity: (world, rows, ids)."""
    engine = engine_for(url)
    empty_all(engine)
    from tracelot.db.engine import make_sessionmaker

    w = World(make_sessionmaker(engine)).setup()
    _, (vid,) = w.item("Grinder", "serial")
    w.adjust(
        [{"variant_id": vid, "quantity": serials, "serial_numbers": [f"R-001..R-{serials:03d}"]}]
    )
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Race"}).id
        rows = []
        for q in quantities:
            o = sales.create_order(
                s,
                {"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": q}]},
                "t",
            )
            rows.append(sales.live_rows(s, o.id)[0].id)
        ids = list(s.scalars(select(Serial.id).order_by(Serial.serial_number)))
    return w, rows, ids


def _held(w: World) -> dict[int, int | None]:
    """Serial id -> holding row; fails if any serial has two live holds."""
    with w.tx() as s:
        links = s.execute(
            select(SerialTransaction.serial_id, func.count())
            .where(
                SerialTransaction.resource_type == sales.ROW,
                SerialTransaction.quantity_change == 0,
                SerialTransaction.is_active.is_(True),
            )
            .group_by(SerialTransaction.serial_id)
            .having(func.count() > 1)
        ).all()
        assert links == []  # no serial held twice
        check_ledger(s)
        return dict(
            s.execute(
                select(Serial.id, Serial.holder_id).where(Serial.holder_type == sales.ROW)
            ).all()
        )


def test_two_processes_assigning_the_same_serials_in_the_same_order_never_both_win_one(
    pg_server_url,
):
    w, rows, ids = _world(pg_server_url, N, [N, N])
    got = _race(
        pg_server_url,
        [(rows[0], [sid]) for sid in ids],
        [(rows[1], [sid]) for sid in ids],
    )
    for i, ((a_won, a_code), (b_won, b_code)) in enumerate(zip(got["a"], got["b"], strict=True)):
        assert a_won != b_won, (i, a_code, b_code)  # exactly one winner per serial
        assert (a_code or b_code) == "NOT_IN_STOCK"
    held = _held(w)
    assert held == {
        sid: rows[0] if a_won else rows[1] for sid, (a_won, _) in zip(ids, got["a"], strict=True)
    }


def test_overlapping_all_or_none_requests_give_each_contested_serial_one_winner(pg_server_url):
    w, rows, ids = _world(pg_server_url, 4 * M, [4 * M, 4 * M])
    a_rounds, b_rounds = [], []
    for k in range(M):
        own_a, c1, c2, own_b = ids[4 * k : 4 * k + 4]
        a_rounds.append((rows[0], [own_a, c1, c2]))
        b_rounds.append((rows[1], [c1, c2, own_b]))
    got = _race(pg_server_url, a_rounds, b_rounds)
    expected: dict[int, int | None] = {}
    for k, ((a_won, _), (b_won, code)) in enumerate(zip(got["a"], got["b"], strict=True)):
        assert a_won != b_won, k  # the contested serials go to one request, whole
        assert code in (None, "NOT_IN_STOCK")
        winner, (row, asked) = (0, a_rounds[k]) if a_won else (1, b_rounds[k])
        expected.update({sid: rows[winner] for sid in asked})
    assert _held(w) == expected  # the loser took none of its serials, not even its own


def test_two_processes_never_put_more_serials_on_a_row_than_its_quantity(pg_server_url):
    w, rows, ids = _world(pg_server_url, 2 * R, [1] * R)
    got = _race(
        pg_server_url,
        [(rows[k], [ids[2 * k]]) for k in range(R)],
        [(rows[k], [ids[2 * k + 1]]) for k in range(R)],
        slow=True,
    )
    for k, ((a_won, a_code), (b_won, b_code)) in enumerate(zip(got["a"], got["b"], strict=True)):
        assert a_won != b_won, k
        assert (a_code or b_code) == "QUANTITY_EXCEEDED"
    held = _held(w)
    per_row = {r: sum(1 for h in held.values() if h == r) for r in rows}
    assert per_row == dict.fromkeys(rows, 1)


def test_a_store_order_sent_twice_at_once_is_imported_once(pg_server_url):
    """Both requests find no import; the second to insert answers with the first's order."""
    from sqlalchemy import event

    from tracelot.db.models import Customer, OrderImport, SalesOrder
    from tracelot.services import ecommerce

    engine = engine_for(pg_server_url)
    empty_all(engine)
    from tracelot.db.engine import make_sessionmaker

    w = World(make_sessionmaker(engine)).setup()
    w.item("Grinder", "none", skus=("GR-1",))
    w.adjust([{"variant_id": _variant(w, "GR-1"), "quantity": 5}])
    payload = {
        "order_id": "B2B-7",
        "status": "completed",
        "customer": {"name": "Acme", "email": "orders@acme.example"},
        "lines": [{"sku": "GR-1", "quantity": 2}],
    }
    first: list[int] = []

    def resend_commits_first(*_: object) -> None:
        """Fires as the request inserts its import record: the re-send commits just before."""
        if first:
            return
        first.append(0)
        with w.tx() as other:
            first[0] = ecommerce.import_order(other, "generic", payload, "store")[0].id

    event.listen(OrderImport, "before_insert", resend_commits_first)
    try:
        with w.tx() as s:
            order, created = ecommerce.import_order(s, "generic", payload, "store")
            answered = order.id
    finally:
        event.remove(OrderImport, "before_insert", resend_commits_first)
    assert (answered, created) == (first[0], False)
    with w.tx() as s:
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 1
        assert s.scalar(select(func.count()).select_from(OrderImport)) == 1
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
        assert s.get(SalesOrder, answered).status == "DELIVERED"
        check_ledger(s)


def _variant(w: World, sku: str) -> int:
    from tracelot.db.models import Variant

    with w.tx() as s:
        return s.scalars(select(Variant.id).where(Variant.sku == sku)).one()

"""Serial numbers from a pattern never repeat, even with two processes producing at once.

Two OS processes (not threads: separate connections, separate interpreters)
record productions against the same item on PostgreSQL at the same time; each
production generates its serial from the item's pattern. The atomic counter
must hand every production its own numbers, so both processes finish all their
productions and every serial is distinct (the unique constraint would make a
duplicate fail a production). The test also checks that the two processes did
overlap (their numbers interleave): one after the other would prove nothing.
"""

from __future__ import annotations

import multiprocessing as mp
from datetime import date

import pytest
from sqlalchemy import func, select

from support.world import World, check_ledger
from tracelot.db.models import Item, Production, Serial, SerialTransaction
from tracelot.services import manufacturing

PRODUCTIONS = 25
PER_PRODUCTION = 2


def _produce_many(url: str, mo_id: int, barrier, errors) -> None:  # type: ignore[no-untyped-def]
    from tracelot.db.engine import make_engine, make_sessionmaker, transaction

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    barrier.wait()
    try:
        for _ in range(PRODUCTIONS):
            with transaction(sessions) as s:
                manufacturing.produce(
                    s,
                    {"manufacturing_order_id": mo_id, "completed_quantity": PER_PRODUCTION},
                    "worker",
                )
    except Exception as exc:  # noqa: BLE001 - reported to the parent test
        errors.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_processes_generating_serials_never_get_the_same_number(db_url, sessions):
    w = World(sessions).setup()
    _, (variant,) = w.item("Meter", "serial")
    with w.tx() as s:
        s.scalar(select(Item).where(Item.name == "Meter")).serial_pattern = "M-{YYYY}-{seq:05}"
    # a hand-entered number inside the range: generation must skip it, not fail on it
    w.adjust(
        [{"variant_id": variant, "quantity": 1, "serial_numbers": [f"M-{date.today().year}-00007"]}]
    )
    mos = []
    for _ in range(2):
        with w.tx() as s:
            mos.append(
                manufacturing.create_order(
                    s,
                    {
                        "variant_id": variant,
                        "location_id": w.location_id,
                        "planned_quantity": PRODUCTIONS * PER_PRODUCTION,
                    },
                    "t",
                ).id
            )
    ctx = mp.get_context("spawn")
    barrier, errors = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_produce_many, args=(db_url, mo, barrier, errors)) for mo in mos]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, problems
    assert all(p.exitcode == 0 for p in procs)
    with w.tx() as s:
        numbers = s.scalars(select(Serial.serial_number).where(Serial.variant_id == variant))
        numbers = list(numbers)
        assert len(numbers) == 1 + 2 * PRODUCTIONS * PER_PRODUCTION
        assert len(set(numbers)) == len(numbers)
        assert s.scalar(
            select(func.count()).select_from(Serial).where(Serial.status == "in_stock")
        ) == len(numbers)
        check_ledger(s)
        # The processes really ran at once: their numbers interleave, not one block each.
        made_by = dict(
            s.execute(
                select(Serial.serial_number, Production.manufacturing_order_id)
                .join(SerialTransaction, SerialTransaction.serial_id == Serial.id)
                .join(Production, Production.id == SerialTransaction.resource_id)
                .where(
                    SerialTransaction.resource_type == "Production",
                    SerialTransaction.quantity_change == 1,
                )
            ).all()
        )
    owners = [made_by[n] for n in sorted(made_by)]
    assert set(owners) == set(mos)
    switches = sum(1 for a, b in zip(owners, owners[1:], strict=False) if a != b)
    assert switches >= 3, f"the two processes took turns only {switches} time(s): {owners}"

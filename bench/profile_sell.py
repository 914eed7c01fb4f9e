"""Where the time of one W1 sale goes: ``python -m bench.profile_sell [--orders N] [--kind K]``.

Sells N orders of 5 serials (``--kind serial``, W1's sell-serials step) or of 20
units of a batch item picked first-expired-first-out (``--kind batch``,
sell-batches) through the service layer on a fresh SQLite file, then prints
orders per second, SQL statements per order, the time spent inside the
database driver, and the top of a cProfile by own time. Bounded: N orders,
then it stops.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from datetime import date, timedelta

from sqlalchemy import event

import tracelot.db.models  # noqa: F401
from bench.common import sqlite_url
from bench.sales_steps import service_steps
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, make_sessionmaker, transaction
from tracelot.services import adjustments, catalog


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_sell", description=__doc__)
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--kind", choices=("serial", "batch"), default="serial")
    args = ap.parse_args()
    engine = make_engine(sqlite_url("profile"))
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    units = 5 if args.kind == "serial" else 20
    with transaction(sessions) as s:
        loc = catalog.save_location(s, None, {"name": "Main"}).id
        item = catalog.create_item(
            s, "product", {"name": "S", "tracking": args.kind, "variants": [{"sku": "S"}]}
        )
        variant = item.variants[0].id
        customer = catalog.save_customer(s, None, {"name": "C"}).id
        adjustments.create(s, _receipt(loc, variant, args.kind, units * args.orders), "bench")
    sell = service_steps()
    assert sell is not None
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for _ in range(args.orders):
        with transaction(sessions) as s:
            sell(s, customer, loc, variant, units)
    profile.disable()
    elapsed = time.perf_counter() - started
    stats = pstats.Stats(profile)
    driver = sum(
        v[3]
        for k, v in stats.stats.items()  # type: ignore[attr-defined]
        if k[2]
        in (
            "<method 'execute' of 'sqlite3.Cursor' objects>",
            "<method 'executemany' of 'sqlite3.Cursor' objects>",
            "<method 'commit' of 'sqlite3.Connection' objects>",
        )
    )
    print(
        f"{args.orders} orders in {elapsed:.2f} s (profiled): "
        f"{args.orders / elapsed:.0f} orders/s, "
        f"{len(statements) / args.orders:.1f} SQL statements per order, "
        f"{driver / args.orders * 1000:.2f} ms per order inside the SQLite driver"
    )
    stats.sort_stats("tottime").print_stats(15)


def _receipt(loc: int, variant: int, kind: str, units: int) -> dict[str, object]:
    """Serials SN-000001..., or lots of 100 (W1's batches) expiring a day apart."""
    row: dict[str, object]
    if kind == "serial":
        row = {"serial_numbers": [f"SN-{i:06d}" for i in range(1, units + 1)]}
    else:
        lots = -(-units // 100)
        today = date.today()
        row = {
            "batch_transactions": [
                {
                    "batch_number": f"LOT-{i:04d}",
                    "quantity": 100,
                    "expiration_date": today + timedelta(days=i),
                }
                for i in range(1, lots + 1)
            ]
        }
        units = 100 * lots
    return {
        "location_id": loc,
        "stock_adjustment_rows": [{"variant_id": variant, "quantity": units, **row}],
    }


if __name__ == "__main__":
    main()

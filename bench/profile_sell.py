"""Where the time of one W1 sale goes: ``python -m bench.profile_sell [--orders N]``.

Sells N orders of 5 serials through the service layer (the same step as W1's
sell-serials phase) on a fresh SQLite file, then prints orders per second,
SQL statements per order, the time spent inside the database driver, and the
top of a cProfile by own time. Bounded: N orders, then it stops.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

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
    args = ap.parse_args()
    engine = make_engine(sqlite_url("profile"))
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        loc = catalog.save_location(s, None, {"name": "Main"}).id
        item = catalog.create_item(
            s, "product", {"name": "S", "tracking": "serial", "variants": [{"sku": "S"}]}
        )
        variant = item.variants[0].id
        customer = catalog.save_customer(s, None, {"name": "C"}).id
        adjustments.create(
            s,
            {
                "location_id": loc,
                "stock_adjustment_rows": [
                    {
                        "variant_id": variant,
                        "quantity": 5 * args.orders,
                        "serial_numbers": [f"SN-{i:06d}" for i in range(1, 5 * args.orders + 1)],
                    }
                ],
            },
            "bench",
        )
    sell = service_steps()
    assert sell is not None
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for _ in range(args.orders):
        with transaction(sessions) as s:
            sell(s, customer, loc, variant, 5)
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


if __name__ == "__main__":
    main()

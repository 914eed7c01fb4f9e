"""Where the time of a read goes: ``python -m bench.profile_reads [--url URL | --scale S]``.

Times the serial history of random serials, the forward trace of level-0 lots and the
recall of the common lot through the service functions, each ``--runs`` times after
one untimed call, and prints per kind the median time of a call, the share spent in
the statements read through ``tracing_context.rows`` (rows fetched included), and
their medians by the function that read them. Either on a
database ``bench.scale`` built and kept (``TRACELOT_BENCH_KEEP=1``; pass its URL) or
on a fresh SQLite one loaded here at ``--scale``. Bounded: runs, then stops.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

import tracelot.db.models  # noqa: F401
from bench.common import sqlite_url
from bench.scale_load import Plan, batch_id, load
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, make_sessionmaker, transaction
from tracelot.services import recall, tracing
from tracelot.services import tracing_context as ctx


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_reads", description=__doc__)
    ap.add_argument("--url", help="a database bench.scale loaded (default: load one here)")
    ap.add_argument("--scale", type=float, default=0.1, help="the scale it was loaded at")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    plan = Plan(args.scale)
    engine = make_engine(args.url or sqlite_url("profile-reads"))
    if not args.url:
        Base.metadata.create_all(engine)
        load(engine, plan)
    rnd = random.Random(7)
    serials = [f"SN-{rnd.randint(1, plan.serials):08d}" for _ in range(args.runs + 1)]
    lots = [batch_id(plan, 0, rnd.randrange(1, plan.per_level)) for _ in range(args.runs + 1)]
    reads: dict[str, tuple[Callable[[Any, Any], Any], list[Any]]] = {
        "serial history": (
            lambda db, n: tracing.serial_history(db, tracing.find_serial(db, serial_number=n)),
            serials,
        ),
        "forward trace": (
            lambda db, b: tracing.trace(db, [tracing.Node(batch_id=b)], "forward"),
            lots,
        ),
        "recall": (
            lambda db, b: recall.report(db, batch_ids=[b]),
            [batch_id(plan, 0, 0)] * min(4, args.runs + 1),
        ),
    }
    for kind, (read, targets) in reads.items():
        _profile(engine, kind, read, targets)


def _profile(
    engine: Engine, kind: str, read: Callable[[Any, Any], Any], targets: list[Any]
) -> None:
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as db:
        read(db, targets[0])  # statements built and compiled once, as a server does
    waits: dict[str, list[float]] = {}
    plain = ctx.rows

    def timed(session: Any, stmt: Any, **params: Any) -> list[Any]:
        """``ctx.rows`` timed with its rows fetched (SQLite steps them while fetching)."""
        t = time.perf_counter()
        found = plain(session, stmt, **params)
        caller = sys._getframe(1).f_code.co_name
        waits.setdefault(caller, []).append(time.perf_counter() - t)
        return found

    calls = []
    ctx.rows = recall.fetch = timed  # type: ignore[assignment]
    try:
        for target in targets[1:]:
            t = time.perf_counter()
            with transaction(sessions) as db:
                read(db, target)
            calls.append(time.perf_counter() - t)
    finally:
        ctx.rows = recall.fetch = plain  # type: ignore[assignment]
    in_db = sum(sum(v) for v in waits.values()) / len(calls)
    print(
        f"\n{kind}: median {statistics.median(calls) * 1000:.2f} ms a call over {len(calls)},"
        f" mean {statistics.mean(calls) * 1000:.2f} ms, of which {in_db * 1000:.2f} ms in the"
        " statements read through tracing_context.rows"
    )
    for caller, times in sorted(waits.items(), key=lambda kv: -sum(kv[1])):
        share = len(times) / len(calls)
        print(f"  {statistics.median(times) * 1000:9.2f} ms x{share:4.1f}  from {caller}")


if __name__ == "__main__":
    main()

"""``make bench``: W1 as the floor, through the services and through HTTP, SQLite and PG.

.venv/bin/python -m bench [--factor 0.1] [--no-pg] [--only floor,services,http]
"""

from __future__ import annotations

import argparse
import time

from bench import floor, http, w1
from bench.common import (
    Run,
    Sizes,
    console,
    machine,
    pg_bench_server,
    print_run,
    run_dict,
    sqlite_url,
    write_results,
)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument(
        "--factor",
        type=float,
        default=1.0,
        help="shrink W1's counts (0.1 = a tenth) for a quick try; 1.0 is W1",
    )
    ap.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    ap.add_argument(
        "--only", default="floor,services,http", help="comma-separated entry points to run"
    )
    args = ap.parse_args()
    sizes, only = Sizes(args.factor), set(args.only.split(","))
    info = machine()
    console.print(
        f"[bold]W1[/] factor {sizes.factor}: {sizes.serials:,} serials, "
        f"{sizes.batches} batches, 2 x {sizes.orders:,} orders; "
        f"{info['cores']} cores ({info['cpu']}), Python {info['python']}, "
        f"SQLAlchemy {info['sqlalchemy']}, FastAPI {info['fastapi']}"
    )
    started = time.time()
    runs: list[Run] = []
    base = floor.run(sizes)  # always: every other figure is read as a ratio to it
    runs.append(base)
    if "services" in only:
        runs.append(w1.run(sqlite_url("services"), sizes))
    if "http" in only:
        runs.append(http.run(sqlite_url("http"), sizes))
    if not args.no_pg and only & {"services", "http"}:
        runs += _postgres(sizes, only)
    for r in runs:
        print_run(r, base)
    path = write_results(
        "w1",
        {
            "sizes": {
                "factor": sizes.factor,
                "serials": sizes.serials,
                "batches": sizes.batches,
                "orders": sizes.orders,
            },
            "machine": info,
            "started": started,
            "runs": [run_dict(r) for r in runs],
        },
    )
    console.print(f"results: {path}")


def _postgres(sizes: Sizes, only: set[str]) -> list[Run]:
    server = pg_bench_server()
    server.start()
    try:
        out = []
        if "services" in only:
            out.append(w1.run(server.create_database("w1_services"), sizes))
        if "http" in only:
            out.append(http.run(server.create_database("w1_http"), sizes))
        return out
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""``make bench-scale``: the read paths on a large database, median and p95.

    .venv/bin/python -m bench.scale [--scale 0.1] [--db sqlite,postgresql] [--samples 200]

Builds the database with ``bench.scale_load`` (set-based), then times each
query kind through the service functions in this process, and the endpoints
through a real uvicorn server (one worker) whose peak RSS is read from /proc.
The web pages a packer uses (the Sell list, the serial picker) are timed
over HTTP too, signed in as a browser is. Bounded: a fixed number of samples per kind.
"""

from __future__ import annotations

import argparse
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, text

import tracelot.db.models  # noqa: F401
from bench.common import (
    console,
    database_name,
    db_size_mib,
    machine,
    peak_rss_mib,
    pg_bench_server,
    reset_peak,
    sqlite_url,
    summary,
    write_results,
)
from bench.http import server
from bench.scale_load import LEVELS, Plan, batch_id, load
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, make_sessionmaker, transaction
from tracelot.db.models import Serial
from tracelot.services import tracing
from tracelot.services.auth import create_token

TARGETS_MS = {
    "serial lookup": 5,
    "serial history": 5,
    "batch trace forward (5 levels)": 50,
    "batch trace backward (5 levels)": 50,
    "recall report (100k serials)": 2000,
    "serial picker search": 50,
    "sell list page": 50,
}


@dataclass
class Row:
    kind: str
    entry: str
    stats: dict[str, float]
    note: str = ""


@dataclass
class ScaleRun:
    database: str
    plan: Plan
    load_seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    db_size_mib: float = 0.0
    server_peak_rss_mib: float = 0.0
    bench_peak_rss_mib: float = 0.0
    counts: dict[str, Any] = field(default_factory=dict)


def timed_calls(fn: Callable[[Any], Any], args: list[Any]) -> dict[str, float]:
    """Median and p95 of ``fn`` over ``args``, after one untimed call with the first of
    them: a server process builds and compiles each statement once, on its first use
    (5-15 ms a kind), which is not what a user waits for afterwards."""
    fn(args[0])
    times = []
    for a in args:
        t = time.perf_counter()
        fn(a)
        times.append((time.perf_counter() - t) * 1000)
    return summary(times)


class Measure:
    def __init__(self, engine: Engine, plan: Plan, samples: int) -> None:
        self.engine, self.plan, self.samples = engine, plan, samples
        self.sessions = make_sessionmaker(engine)
        self.rnd = random.Random(42)

    def _serial_numbers(self) -> list[str]:
        return [f"SN-{self.rnd.randint(1, self.plan.serials):08d}" for _ in range(self.samples)]

    def _lots(self, level: int, n: int) -> list[int]:
        return [
            batch_id(self.plan, level, self.rnd.randrange(1, self.plan.per_level)) for _ in range(n)
        ]

    def _trace_samples(self) -> int:
        """Traces take longer, so fewer of them; at least 20, so p95 is not the slowest."""
        return max(20, self.samples // 2)

    def in_tx(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
        def call(arg: Any) -> Any:
            with transaction(self.sessions) as db:
                return fn(db, arg)

        return call

    def services(self) -> list[Row]:
        rows = [
            Row(
                "serial lookup",
                "services",
                timed_calls(
                    self.in_tx(lambda db, n: tracing.find_serial(db, serial_number=n)),
                    self._serial_numbers(),
                ),
                "tracing.find_serial",
            ),
            Row(
                "serial history",
                "services",
                timed_calls(
                    self.in_tx(
                        lambda db, n: tracing.serial_history(
                            db, tracing.find_serial(db, serial_number=n)
                        )
                    ),
                    self._serial_numbers(),
                ),
                "tracing.serial_history",
            ),
            Row(
                "batch trace forward (5 levels)",
                "services",
                timed_calls(
                    self.in_tx(
                        lambda db, b: tracing.trace(db, [tracing.Node(batch_id=b)], "forward")
                    ),
                    self._lots(0, self._trace_samples()),
                ),
                "tracing.trace, level-0 lots",
            ),
            Row(
                "batch trace backward (5 levels)",
                "services",
                timed_calls(
                    self.in_tx(
                        lambda db, b: tracing.trace(db, [tracing.Node(batch_id=b)], "backward")
                    ),
                    self._lots(LEVELS - 1, self._trace_samples()),
                ),
                "tracing.trace, level-4 lots",
            ),
            self._recall(),
            self._picker(),
            *self._sell_pages(),
        ]
        return rows

    def _sell_pages(self) -> list[Row]:
        """The web Sell list (/sell) read model: a page of 50, its COUNT and the channel
        dropdown, as the page handler runs them (web.sales_queries, web.paging)."""
        from tracelot.web import sales_queries as sq
        from tracelot.web.paging import paged

        def sell(db: Any, arg: tuple[int, tuple[str, str, str, str]]) -> Any:
            page, filters = arg
            paged(db, sq.order_list(*filters), page, count=sq.order_count(*filters))
            return sq.channels(db)

        pages = max(1, self.plan.orders // 50)
        plain = [
            (self.rnd.randint(1, min(pages, 20)), ("", "", "", "")) for _ in range(self.samples)
        ]
        missing = [(1, ("", "", "missing", ""))] * max(10, self.samples // 4)
        note = "web.sales_queries page + COUNT + channel dropdown"
        return [
            Row("sell list page", "web", timed_calls(self.in_tx(sell), plain), note),
            Row(
                "sell list page, tracing missing",
                "web",
                timed_calls(self.in_tx(sell), missing),
                note,
            ),
        ]

    def _recall(self) -> Row:
        from tracelot.services import recall

        common = batch_id(self.plan, 0, 0)  # reaches every batch and the FINAL serials
        return Row(
            "recall report (100k serials)",
            "services",
            timed_calls(self.in_tx(lambda db, b: recall.report(db, batch_ids=[b])), [common] * 3),
            f"recall.report; lot reaches {self.plan.final_serials:,} serials",
        )

    def _picker(self) -> Row:
        """Prefix searches (the number minus its last two digits) among a variant's serials."""
        from tracelot.db.models import SalesOrderRow
        from tracelot.services import picking

        row_id, _variant, _loc = self._open_row()

        def search(db: Any, prefix: str) -> Any:
            return picking.serial_picker(db, db.get(SalesOrderRow, row_id), q=prefix)

        return Row(
            "serial picker search",
            "services",
            timed_calls(self.in_tx(search), self._prefixes()),
            f"picking.serial_picker (prefix search, 50 a page; {self._free():,} free serials)",
        )

    def _open_row(self) -> tuple[int, int, int]:
        """The newest open sales row of a serial variant with free serials, its variant and
        location (the picker needs a row)."""
        from tracelot.db.models import SalesOrder, SalesOrderRow

        with transaction(self.sessions) as db:
            row = db.execute(
                select(SalesOrderRow.id, SalesOrderRow.variant_id, SalesOrder.location_id)
                .join(SalesOrder, SalesOrder.id == SalesOrderRow.sales_order_id)
                .where(
                    SalesOrder.status == "NOT_SHIPPED",
                    SalesOrderRow.variant_id.in_(
                        select(Serial.variant_id).where(Serial.status == "in_stock")
                    ),
                )
                .order_by(SalesOrderRow.id.desc())
                .limit(1)
            ).one()
            return row.id, row.variant_id, row.location_id

    def _free(self) -> int:
        """How many serials the picker chooses from (in stock at the row's location)."""
        _row, variant, loc = self._open_row()
        with transaction(self.sessions) as db:
            return int(
                db.scalar(
                    select(func.count())
                    .select_from(Serial)
                    .where(
                        Serial.variant_id == variant,
                        Serial.location_id == loc,
                        Serial.status == "in_stock",
                    )
                )
                or 0
            )

    def http(self, base: str, token: str, pid: int) -> list[Row]:
        rows: list[Row] = []
        with httpx.Client(
            base_url=base, timeout=300, headers={"Authorization": f"Bearer {token}"}
        ) as client:

            def get(path: str, **params: Any) -> Any:
                r = client.get(path, params=params)
                r.raise_for_status()
                return r

            def add(kind: str, path: str, params: list[dict[str, Any]], note: str = "") -> None:
                if client.get(path, params=params[0]).status_code == 404 and "{" not in path:
                    rows.append(Row(kind, "http", {}, f"{path}: not built yet"))
                    return
                rows.append(
                    Row(
                        kind,
                        "http",
                        timed_calls(lambda p: get(path, **p), params),
                        f"GET {path} {note}".strip(),
                    )
                )

            add(
                "serial history",
                "/v1/serial_numbers/history",
                [{"serial_number": n} for n in self._serial_numbers()],
            )
            add(
                "batch trace forward (5 levels)",
                "/v1/trace",
                [
                    {"batch_id": b, "direction": "forward"}
                    for b in self._lots(0, self._trace_samples())
                ],
            )
            add(
                "batch trace backward (5 levels)",
                "/v1/trace",
                [
                    {"batch_id": b, "direction": "backward"}
                    for b in self._lots(LEVELS - 1, self._trace_samples())
                ],
            )
            add(
                "recall report (100k serials)",
                "/v1/recall",
                [{"batch_id": batch_id(self.plan, 0, 0)}] * 3,
                "(JSON report of the common lot)",
            )
            rows.append(self._write_during_recall(base, client))
            pages = max(1, self.plan.orders // 50)
            add(
                "sell list page",
                "/v1/sales_orders",
                [
                    {"limit": 50, "page": self.rnd.randint(1, min(pages, 20))}
                    for _ in range(self.samples)
                ],
            )
            add(
                "sell list page, tracing missing",
                "/v1/sales_orders",
                [{"limit": 50, "tracing_status": "missing"}] * max(10, self.samples // 4),
            )
            add("tracing issues", "/v1/tracing_issues", [{}] * 10)
        rows += self.web(base)
        return rows

    def _write_during_recall(self, base: str, client: httpx.Client) -> Row:
        """What a packer waits for while a recall runs: a write (a new location, as a
        sale is a write) sent half a second into each of three recall reports, from
        another client. Before reads left SQLite's write lock free, it waited for the
        whole report (4.8-6.5 s)."""
        recall = {"batch_id": batch_id(self.plan, 0, 0)}

        def report() -> None:
            with httpx.Client(base_url=base, timeout=300, headers=client.headers) as other:
                other.get("/v1/recall", params=recall).raise_for_status()

        times = []
        for i in range(3):
            running = threading.Thread(target=report)
            running.start()
            time.sleep(0.5)
            t = time.perf_counter()
            client.post("/v1/locations", json={"name": f"During recall {i}"}).raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
            running.join()
        return Row(
            "a write while a recall runs",
            "http",
            summary(times),
            "POST /v1/locations 0.5 s into GET /v1/recall",
        )

    def web(self, base: str) -> list[Row]:
        """The pages a packer uses, over HTTP as the browser asks for them (signed in):
        the Sell list page (HTML) and the serial picker's JSON, opened unfiltered and
        searched by prefix, on a row whose variant has the most free serials."""
        row_id, _variant, _loc = self._open_row()
        free = self._free()
        with httpx.Client(base_url=base, timeout=300, follow_redirects=False) as web:
            _sign_in(web, *self._web_user())
            pages = max(1, self.plan.orders // 50)
            plain = [{"page": self.rnd.randint(1, min(pages, 20))} for _ in range(self.samples)]
            kinds: list[tuple[str, str, list[dict[str, Any]]]] = [
                ("sell list page", "/sell", plain),
                ("sell list page, tracing missing", "/sell", [{"tracing": "missing"}] * 20),
            ]
            picker = f"/sell/rows/{row_id}/serials"
            kinds += [
                ("serial picker search", picker, [{}] * max(10, self.samples // 4)),
                ("serial picker search", picker, [{"q": p} for p in self._prefixes()]),
                # Downloads of the largest records, few samples: seconds each, and the
                # server's peak RSS (the run's) must hold through them too.
                ("recall XLSX download", "/recall/report.xlsx", [{"batch": self.common}] * 2),
                ("tracking CSV export", f"/items/{self._largest_item()}/export.csv", [{}] * 2),
            ]
            rows = []
            for kind, path, params in kinds:

                def get(p: dict[str, Any], path: str = path) -> Any:
                    r = web.get(path, params=p)
                    r.raise_for_status()
                    return r

                note = f"GET {path}" + (" ?q=prefix" if params[0].get("q") else "")
                if "serials" in path:
                    note += f" ({free:,} free serials)"
                rows.append(Row(kind, "web http", timed_calls(get, params), note))
        return rows

    @property
    def common(self) -> int:
        """The lot that reaches every batch and the FINAL serials."""
        return batch_id(self.plan, 0, 0)

    def _largest_item(self) -> int:
        """The item with the most serials (its export has the most records)."""
        with transaction(self.sessions) as db:
            return int(
                db.scalars(
                    select(Serial.item_id)
                    .group_by(Serial.item_id)
                    .order_by(func.count().desc(), Serial.item_id)
                    .limit(1)
                ).one()
            )

    def _web_user(self) -> tuple[str, str]:
        from tracelot.services import users

        with transaction(self.sessions) as db:
            users.create_user(db, "bench", "bench-password")
        return "bench", "bench-password"

    def _prefixes(self) -> list[str]:
        """Serial numbers of the picker's variant, cut to a prefix (the last 2 digits off)."""
        _row, variant, _loc = self._open_row()
        with transaction(self.sessions) as db:
            numbers = list(
                db.scalars(
                    select(Serial.serial_number)
                    .where(Serial.variant_id == variant, Serial.status == "in_stock")
                    .limit(10_000)
                )
            )
        return [self.rnd.choice(numbers)[:-2] for _ in range(self.samples)]


def _sign_in(web: httpx.Client, username: str, password: str) -> None:
    """Sign in as a browser does: the form's CSRF token, then the session cookie."""
    form = web.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("the sign-in form has no csrf_token")
    r = web.post(
        "/login", data={"username": username, "password": password, "csrf_token": token[1]}
    )
    if r.status_code != 303:
        raise RuntimeError(f"sign-in failed: {r.status_code}")


def run_one(url: str, plan: Plan, samples: int) -> ScaleRun:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    result = ScaleRun(database_name(engine), plan)
    console.print(f"[bold]{result.database}[/]: loading scale {plan.scale}")
    t = time.perf_counter()
    load(engine, plan)
    result.load_seconds = round(time.perf_counter() - t, 1)
    with engine.connect() as conn:
        from bench.scale_load import counts

        result.counts = counts(conn)
        conn.execute(text("DROP TABLE bench_seq"))
        conn.commit()
    console.print(f"  loaded in {result.load_seconds} s: {result.counts}")
    reset_peak()
    m = Measure(engine, plan, samples)
    result.rows += m.services()
    with transaction(make_sessionmaker(engine)) as s:
        token = create_token(s, "bench-scale")
    with server(url) as (base, pid):
        reset_peak(pid)
        result.rows += m.http(base, token, pid)
        result.server_peak_rss_mib = peak_rss_mib(pid)
    result.bench_peak_rss_mib = peak_rss_mib()
    result.db_size_mib = db_size_mib(engine, url)
    engine.dispose()
    return result


def print_scale(r: ScaleRun) -> None:
    from rich.table import Table

    table = Table(title=f"bench-scale {r.plan.scale} on {r.database}")
    for col in ("query", "entry", "median ms", "p95 ms", "target p95", "met", "note"):
        table.add_column(col, justify="right" if "ms" in col or col == "met" else "left")
    for row in r.rows:
        target = TARGETS_MS.get(row.kind)
        p95 = row.stats.get("p95_ms")
        met = "-" if target is None or p95 is None else ("yes" if p95 < target else "NO")
        table.add_row(
            row.kind,
            row.entry,
            _ms(row.stats.get("median_ms")),
            _ms(p95),
            f"{target}" if target else "-",
            met,
            row.note,
        )
    table.caption = (
        f"loaded in {r.load_seconds} s; {r.counts}; database {r.db_size_mib} MiB;"
        f" server peak RSS {r.server_peak_rss_mib} MiB; bench process"
        f" {r.bench_peak_rss_mib} MiB"
    )
    console.print(table)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M serials, 10M moves")
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    plan = Plan(args.scale)
    info = machine()
    console.print(
        f"bench-scale {plan.scale}: {plan.serials:,} serials, {plan.movements:,}"
        f" movements, {plan.orders:,} orders, {plan.per_level * LEVELS:,} batches;"
        f" {info['cores']} cores, Python {info['python']}"
    )
    runs = []
    if "sqlite" in args.db:
        runs.append(run_one(sqlite_url("scale"), plan, args.samples))
    if "postgresql" in args.db:
        pg = pg_bench_server()
        try:
            pg.start()
            runs.append(run_one(pg.create_database("scale"), plan, args.samples))
        finally:
            pg.stop()
    for r in runs:
        print_scale(r)
    path = write_results(
        f"scale-{plan.scale}",
        {
            "machine": info,
            "runs": [
                {
                    "database": r.database,
                    "scale": r.plan.scale,
                    "load_seconds": r.load_seconds,
                    "counts": r.counts,
                    "db_size_mib": r.db_size_mib,
                    "server_peak_rss_mib": r.server_peak_rss_mib,
                    "bench_peak_rss_mib": r.bench_peak_rss_mib,
                    "rows": [vars(row) for row in r.rows],
                }
                for r in runs
            ],
        },
    )
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()

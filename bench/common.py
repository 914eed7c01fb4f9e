"""What every benchmark shares: W1's sizes, timing, memory, databases, the report."""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
console = Console(width=150)


@dataclass(frozen=True)
class Sizes:
    """W1's sizes; ``factor`` shrinks the counts for a quick try (1.0 is W1 itself)."""

    factor: float = 1.0

    def n(self, full: int) -> int:
        return max(1, round(full * self.factor))

    @property
    def receipts(self) -> int:
        return self.n(20)

    serials_per_receipt: int = 1000

    @property
    def serials(self) -> int:
        return self.receipts * self.serials_per_receipt

    @property
    def batches(self) -> int:
        return self.n(500)

    batch_units: int = 100

    @property
    def orders(self) -> int:
        return self.n(2000)

    serials_per_order: int = 5
    batch_units_per_order: int = 20

    @property
    def trace_serials(self) -> int:
        return self.n(1000)

    @property
    def trace_batches(self) -> int:
        return self.n(100)

    seed: int = 42


@dataclass
class Phase:
    name: str
    seconds: float
    units: int
    unit: str
    peak_rss_mib: float
    server_rss_mib: float | None = None
    server_cpu_s: float | None = None  # the server process's CPU time in the phase
    note: str = ""
    latencies_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0


@dataclass
class Run:
    """One run of the phases on one database through one entry point."""

    entry: str  # floor | services | http
    database: str  # "SQLite (file, WAL)" | "PostgreSQL 16 (...)"
    phases: list[Phase] = field(default_factory=list)
    db_size_mib: float = 0.0
    notes: list[str] = field(default_factory=list)


# -- memory ---------------------------------------------------------------------------


def _status_kib(pid: int | str, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def reset_peak(pid: int | str = "self") -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so each phase gets its own peak."""
    with suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int | str = "self") -> float:
    """User plus system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident memory since the last reset_peak (VmHWM), in MiB."""
    return round(_status_kib(pid, "VmHWM") / 1024, 1)


# -- timing ---------------------------------------------------------------------------


@contextmanager
def timed(
    name: str, units: int, unit: str, run: Run, server_pid: int | None = None, note: str = ""
) -> Iterator[Phase]:
    """Time a phase and record its peak RSS (and, over HTTP, the server's RSS and CPU
    time: requests go one at a time, so the wall time also holds the client's work)."""
    reset_peak()
    if server_pid:
        reset_peak(server_pid)
        server_cpu = cpu_seconds(server_pid)
    phase = Phase(name, 0.0, units, unit, 0.0, note=note)
    start = time.perf_counter()
    yield phase
    phase.seconds = time.perf_counter() - start
    phase.peak_rss_mib = peak_rss_mib()
    if server_pid:
        phase.server_rss_mib = peak_rss_mib(server_pid)
        phase.server_cpu_s = round(cpu_seconds(server_pid) - server_cpu, 2)
    run.phases.append(phase)
    console.print(
        f"  [dim]{run.entry}/{run.database.split()[0]}[/] {name}: "
        f"{phase.seconds:.2f} s, {phase.rate:,.0f} {unit}/s"
    )


def sample(fn: Callable[[Any], Any], args: list[Any]) -> dict[str, float]:
    """Call fn once per argument; median and p95 of the wall times, in ms."""
    times = []
    for a in args:
        t = time.perf_counter()
        fn(a)
        times.append((time.perf_counter() - t) * 1000)
    return summary(times)


def summary(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(p95, 3),
        "max_ms": round(ordered[-1], 3),
    }


# -- databases ------------------------------------------------------------------------


def sqlite_url(tag: str) -> str:
    """A SQLite file in a fresh temporary folder, removed when the benchmark process ends
    (a scale-1 database is several GiB); TRACELOT_BENCH_KEEP=1 keeps it for a closer look."""
    folder = tempfile.mkdtemp(prefix=f"tracelot-bench-{tag}-")
    if not os.environ.get("TRACELOT_BENCH_KEEP"):
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return f"sqlite:///{Path(folder) / 'bench.db'}"


def sqlite_size_mib(url: str) -> float:
    path = Path(url.removeprefix("sqlite:///"))
    total = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    return round(total / 2**20, 1)


# The benchmarks' PostgreSQL is set up as a production server of this machine would be
# (the tests' 64 MB of shared buffers hold little of a multi-GiB scale database).
PG_BENCH_SETTINGS = {"shared_buffers": "2GB", "effective_cache_size": "8GB"}


def pg_bench_server() -> Any:
    """A private PostgreSQL server (tests/pg_server.py) with ``PG_BENCH_SETTINGS``."""
    return pg_server_class()(settings=PG_BENCH_SETTINGS)


def pg_server_class() -> Any:
    """tests/pg_server.py's PostgresServer, imported by path (tests/ is no package)."""
    spec = importlib.util.spec_from_file_location("pg_server", ROOT / "tests" / "pg_server.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["pg_server"] = module
    spec.loader.exec_module(module)
    return module.PostgresServer


def db_size_mib(engine: Any, url: str) -> float:
    if url.startswith("sqlite"):
        return sqlite_size_mib(url)
    from sqlalchemy import text

    with engine.connect() as conn:
        size = conn.scalar(text("SELECT pg_database_size(current_database())"))
    return round(int(size) / 2**20, 1)


def database_name(engine: Any) -> str:
    from sqlalchemy import text

    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return f"SQLite {conn.scalar(text('select sqlite_version()'))} (file, WAL)"
        version = str(conn.scalar(text("SHOW server_version"))).split()[0]
        return f"PostgreSQL {version} (local, fsync off)"


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


# -- report ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import fastapi
    import sqlalchemy

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlalchemy": sqlalchemy.__version__,
        "fastapi": fastapi.__version__,
        "cpu": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def print_run(run: Run, floor: Run | None = None) -> None:
    table = Table(title=f"W1 — {run.entry} on {run.database}")
    for col in ("phase", "wall s", "throughput", "peak RSS MiB", "x floor", "note"):
        table.add_column(col, justify="left" if col in ("phase", "note") else "right")
    floors = {p.name: p for p in floor.phases} if floor else {}
    for p in run.phases:
        f = floors.get(p.name)
        ratio = f"{p.seconds / f.seconds:.1f}" if f and f.seconds and f is not p else "-"
        rss = f"{p.peak_rss_mib:.0f}" + (
            f" (server {p.server_rss_mib:.0f})" if p.server_rss_mib is not None else ""
        )
        note = (
            p.note
            + _server_cpu(p)
            + "".join(
                f" {k}: med {v['median_ms']:.2f} / p95 {v['p95_ms']:.2f} ms"
                for k, v in p.latencies_ms.items()
            )
        )
        table.add_row(
            p.name, f"{p.seconds:.2f}", f"{p.rate:,.0f} {p.unit}/s", rss, ratio, note.strip()
        )
    table.caption = f"database size at the end: {run.db_size_mib} MiB" + "".join(
        f"; {n}" for n in run.notes
    )
    console.print(table)


def _server_cpu(p: Phase) -> str:
    if not p.server_cpu_s:
        return ""
    per = p.server_cpu_s / p.units * 1000
    rate = p.units / p.server_cpu_s
    one = p.unit[:-3] + "y" if p.unit.endswith("ies") else p.unit.removesuffix("s")
    return f" server CPU {per:.3g} ms per {one} ({rate:,.0f}/s)"


def write_results(kind: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def run_dict(run: Run) -> dict[str, Any]:
    out = asdict(run)
    for p, d in zip(run.phases, out["phases"], strict=True):
        d["throughput_per_s"] = round(p.rate, 1)
    return out

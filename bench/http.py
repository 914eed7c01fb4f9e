"""W1 through HTTP: a real uvicorn server process (one worker) on 127.0.0.1.

The bench process sets the database up (schema, W1's set-up, an API token),
starts ``uvicorn tracelot.api.asgi:app`` as a child process, drives it with one
keep-alive httpx client, reads the server's peak RSS from /proc per phase, and
stops it. Only loopback traffic.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

import tracelot.db.models  # noqa: F401
from bench import sales_steps
from bench.common import ROOT, Run, Sizes, database_name, db_size_mib, sample, timed
from bench.w1 import batch_receipt, serial_receipt, set_up, trace_targets
from tracelot.db.base import Base
from tracelot.db.engine import make_engine, make_sessionmaker, transaction
from tracelot.services.auth import create_token


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str) -> Iterator[tuple[str, int]]:
    """A uvicorn child process serving the app on ``url``; (base URL, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "TRACELOT_DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tracelot.api.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/v1/locations", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class HttpW1:
    def __init__(self, url: str, sizes: Sizes) -> None:
        self.url, self.sizes = url, sizes
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.run = Run("http", database_name(self.engine))
        self.loc, self.customer, self.s_var, self.b_var = set_up(self.sessions)
        with transaction(self.sessions) as s:
            self.token = create_token(s, "bench")
        self.pid = 0
        self.http: httpx.Client

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        r = self.http.post(path, json=body)
        if r.status_code >= 300:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    def receive_serials(self) -> None:
        s = self.sizes
        with timed("receive-serials", s.serials, "serials", self.run, self.pid):
            for r in range(s.receipts):
                self._post("/v1/stock_adjustments", serial_receipt(self.loc, self.s_var, s, r))

    def receive_batches(self) -> None:
        s = self.sizes
        with timed("receive-batches", s.batches * s.batch_units, "units", self.run, self.pid):
            self._post(
                "/v1/stock_adjustments", batch_receipt(self.loc, self.b_var, s, as_json=True)
            )

    def sell(self, name: str, variant: int, qty: int) -> None:
        steps = sales_steps.http_steps(self.s_var)
        if steps is None:
            self.run.notes.append(f"{name}: skipped, no sales order API yet")
            return
        with timed(name, self.sizes.orders, "orders", self.run, self.pid):
            for _ in range(self.sizes.orders):
                steps(self.http, self.customer, self.loc, variant, qty)

    def trace(self) -> None:
        with transaction(self.sessions) as db:
            serial_ids, batch_ids = trace_targets(db, self.sizes)
        with timed(
            "trace",
            len(serial_ids) + len(batch_ids),
            "queries",
            self.run,
            self.pid,
            note="GET /v1/trace forward",
        ) as phase:
            phase.latencies_ms["serial"] = sample(
                lambda i: self._get("/v1/trace", serial_number_id=i), serial_ids
            )
            phase.latencies_ms["batch"] = sample(
                lambda i: self._get("/v1/trace", batch_id=i), batch_ids
            )

    def _get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        r.raise_for_status()
        return r.json()

    def all(self) -> Run:
        with (
            server(self.url) as (base, pid),
            httpx.Client(
                base_url=base, timeout=120, headers={"Authorization": f"Bearer {self.token}"}
            ) as self.http,
        ):
            self.pid = pid
            self.receive_serials()
            self.receive_batches()
            self.sell("sell-serials", self.s_var, self.sizes.serials_per_order)
            self.sell("sell-batches", self.b_var, self.sizes.batch_units_per_order)
            self.trace()
        self.run.db_size_mib = db_size_mib(self.engine, self.url)
        self.engine.dispose()
        return self.run


def run(url: str, sizes: Sizes) -> Run:
    return HttpW1(url, sizes).all()

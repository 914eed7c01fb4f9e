"""The ``tracelot`` command as users run it: a real process on a real SQLite file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.live_server import free_port


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TRACELOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def run(
    env: dict[str, str], *args: str, ok: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tracelot.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_migrate_demo_token_and_export(env):
    run(env, "migrate")
    assert "demo data loaded" in run(env, "demo", "--if-empty").stdout
    assert "not loaded" in run(env, "demo", "--if-empty").stdout
    token = run(env, "token", "create", "--name", "shop").stdout.strip()
    assert token.startswith("tl_")
    out = run(env, "export", "tracking", "--item", "1").stdout
    assert out.startswith("record,item,sku")
    assert "serial,Espresso machine,EM-1,,,,EM-0001,in_stock,Main warehouse" in out


def test_import_serials_adds_them_and_a_bad_file_changes_nothing(env, tmp_path):
    run(env, "migrate")
    run(env, "demo")
    good = tmp_path / "good.csv"
    good.write_text("sku,serial_number,location\nEM-1,EM-9001,Main warehouse\nEM-1,EM-9002,Shop\n")
    assert "imported 2 serials rows" in run(env, "import", "serials", str(good)).stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "sku,serial_number,location\nEM-1,EM-9003,Main warehouse\n"
        "EM-1,EM 9004 way too long for a serial number,Shop\n"
    )
    failed = run(env, "import", "serials", str(bad), ok=False)
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Row 3:"), failed.stderr
    out = run(env, "export", "tracking", "--item", "1").stdout
    assert "EM-9002" in out and "EM-9003" not in out


def test_importing_a_serial_that_exists_or_repeats_names_the_rows_and_imports_nothing(
    env, tmp_path
):
    run(env, "migrate")
    run(env, "demo")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "sku,serial_number,location\n"
        "EM-1,EM-9101,Main warehouse\n"
        "EM-1,EM-0001,Main warehouse\n"
        "EM-1,EM-9101,Shop\n"
    )
    failed = run(env, "import", "serials", str(bad), ok=False)
    assert failed.returncode == 1
    assert failed.stderr.strip().startswith("error: Row 3: serial number 'EM-0001' already exists")
    assert "(and 1 more problem(s))" in failed.stderr
    assert "EM-9101" not in run(env, "export", "tracking", "--item", "1").stdout


def test_import_batches_from_csv(env, tmp_path):
    run(env, "migrate")
    run(env, "demo")
    f = tmp_path / "batches.csv"
    f.write_text(
        "sku,batch_number,expiration_date,batch_barcode,location,quantity\n"
        "RC-1KG,RC-77,2027-03-01,,Shop,12\nRC-1KG,RC-78,2027-04-01,,,\n"
    )
    assert "imported 2 batches" in run(env, "import", "batches", str(f)).stdout
    out = run(env, "export", "tracking", "--item", "2").stdout
    assert "batch,Roasted coffee 1 kg,RC-1KG,RC-77,2027-03-01,,,,Shop,12" in out
    assert ",RC-78,2027-04-01," in out


def test_a_missing_file_is_a_one_line_error(env):
    run(env, "migrate")
    failed = run(env, "import", "batches", "/nonexistent.csv", ok=False)
    assert failed.returncode == 1 and failed.stderr.startswith("error: cannot read")


def test_serve_prints_the_url_and_a_token_that_opens_the_demo(tmp_path: Path) -> None:
    """What ``make run`` does after set-up, with nothing configured: migrate, demo and serve
    on the default SQLite file ./tracelot.db of the folder it runs in."""
    env = {k: v for k, v in os.environ.items() if k != "TRACELOT_DATABASE_URL"}
    run(env, "migrate", cwd=tmp_path)
    run(env, "demo", "--if-empty", cwd=tmp_path)
    assert (tmp_path / "tracelot.db").is_file()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracelot.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        token, seen = None, []
        deadline = time.monotonic() + 60
        while token is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            seen.append(line)
            if m := re.search(r"API token: (\S+)", line):
                token = m.group(1)
        assert token, "".join(seen)
        assert any(f"http://127.0.0.1:{port}" in line for line in seen)
        assert any("web sign-in: demo / demo" in line for line in seen)
        r = None
        for _ in range(300):
            assert proc.poll() is None, "".join(seen) + proc.stdout.read()  # type: ignore[union-attr]
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/v1/products",
                    headers={"Authorization": f"Bearer {token}"},
                )
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert r is not None and r.status_code == 200
        assert {"Espresso machine", "Roasted coffee 1 kg"} <= {p["name"] for p in r.json()["data"]}
    finally:
        proc.terminate()
        proc.wait(timeout=20)

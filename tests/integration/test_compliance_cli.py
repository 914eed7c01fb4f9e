"""`tracelot recall` and `tracelot fsma204`: the format is csv, xlsx or json, nothing else."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from support.schema import empty_all, engine_for
from support.trace_scenario import build
from support.world import World
from tracelot import cli
from tracelot.db.engine import make_sessionmaker
from tracelot.settings import get_settings
from tracelot.standards import fsma204


@pytest.mark.parametrize("command", [["recall", "SUP-LOT-7"], ["fsma204", "SUP-LOT-7"]])
@pytest.mark.parametrize("fmt", ["pdf", "CSV", ""])
def test_an_unknown_format_is_refused_in_one_line_before_anything_is_read_or_written(
    command, fmt, tmp_path, monkeypatch
):
    def no_database():  # type: ignore[no-untyped-def]
        raise AssertionError("the database was opened")

    monkeypatch.setattr(cli, "_sessions", no_database)
    out = tmp_path / "report.out"
    result = CliRunner().invoke(cli.app, [*command, "--format", fmt, "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line == f"error: Unknown --format '{fmt}': use csv, xlsx or json."
    assert not out.exists()


def test_fsma204_writes_json_when_asked(sessions, db_url, tmp_path, monkeypatch):
    build(World(sessions).setup())
    monkeypatch.setenv("TRACELOT_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["fsma204", "SUP-LOT-7", "--format", "json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["columns"] == fsma204.COLUMNS
    assert len(body["data"]) == 1 + 8 + 8 + 4
    (receipt,) = [r for r in body["data"] if r["Critical Tracking Event (CTE)"] == "Receiving"]
    assert receipt["Quantity"] == "10"  # decimal text, as GET /fsma204?format=json answers
    assert {r["Critical Tracking Event (CTE)"] for r in body["data"]} == {
        "Receiving",
        "Transformation",
        "Shipping",
    }


@pytest.mark.parametrize("command", [["recall", "SUP-LOT-7"], ["fsma204", "SUP-LOT-7"]])
def test_a_report_from_the_command_line_runs_while_a_writer_holds_sqlites_lock(
    command, sqlite_url, monkeypatch
):
    """The reports read in a read session: a sale in progress on the server does not
    hold them up, nor they it (they waited for the write lock, then failed at 30 s)."""
    engine = engine_for(sqlite_url)
    empty_all(engine)
    build(World(make_sessionmaker(engine)).setup())
    monkeypatch.setenv("TRACELOT_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    writer = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        result = CliRunner().invoke(cli.app, [*command, "--format", "json"])
    finally:
        writer.close()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)

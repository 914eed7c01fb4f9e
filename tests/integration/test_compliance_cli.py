"""`tracelot recall` and `tracelot fsma204`: the format is csv, xlsx or json, nothing else."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from support.trace_scenario import build
from support.world import World
from tracelot import cli
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

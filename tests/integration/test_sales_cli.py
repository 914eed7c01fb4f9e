"""`tracelot import orders --channel C FILE` (issue 3): a file of many, all or nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from support.world import World
from tracelot.cli import app
from tracelot.db.models import OrderImport, SalesOrder
from tracelot.settings import get_settings


def _orders(n: int, sku: str = "GR-1") -> list[dict]:  # type: ignore[type-arg]
    return [
        {
            "order_id": f"B2B-{i}",
            "customer": {"name": "Acme", "email": "a@acme.example"},
            "lines": [{"sku": sku, "quantity": 1}],
        }
        for i in range(n)
    ]


def test_import_orders_cli_imports_a_file_once_and_refuses_a_bad_file_whole(
    sessions, db_url, tmp_path, monkeypatch
):
    w = World(sessions).setup()
    w.item("Grinder", "serial", skus=("GR-1",))
    monkeypatch.setenv("TRACELOT_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        good = tmp_path / "orders.json"
        good.write_text(json.dumps(_orders(3)))
        result = CliRunner().invoke(app, ["import", "orders", "--channel", "generic", str(good)])
        assert result.exit_code == 0, result.output
        assert "imported 3 orders" in result.output
        again = CliRunner().invoke(app, ["import", "orders", "--channel", "generic", str(good)])
        assert "imported 0 orders (3 already imported)" in again.output
        bad = tmp_path / "bad.jsonl"
        rows = _orders(2) + _orders(1, sku="NOPE")
        rows[1]["order_id"], rows[2]["order_id"] = "NEW-1", "NEW-2"
        bad.write_text("\n".join(json.dumps(r) for r in rows))
        failed = CliRunner().invoke(app, ["import", "orders", "--channel", "generic", str(bad)])
        assert failed.exit_code == 1 and "NOPE" in failed.output
    finally:
        get_settings.cache_clear()
    with w.tx() as s:
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 3
        assert s.scalar(select(func.count()).select_from(OrderImport)) == 3

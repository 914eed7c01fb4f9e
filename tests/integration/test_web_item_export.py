"""The item page's tracking export over HTTP: the command line's CSV, sent in parts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.trace_scenario import build
from support.world import World
from tracelot.db.models import Item
from tracelot.services import catalog, exports


def test_an_items_tracking_export_download_is_the_whole_csv_sent_in_parts(
    web: TestClient, sessions, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The item page's export is the command line's CSV, every record of it, however
    many parts it is sent in."""
    w = World(sessions).setup()
    build(w)
    with w.tx() as s:
        board = s.query(Item).filter_by(name="Board").one().id
        expected, count = exports.tracking_csv(s, catalog.get_item(s, board))
    real = exports.csv_parts
    monkeypatch.setattr(exports, "csv_parts", lambda rows: real(rows, size=2))
    download = web.get(f"/items/{board}/export.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert 'filename="tracking-' in download.headers["content-disposition"]
    assert download.text == expected and len(expected.splitlines()) == count + 1 > 3

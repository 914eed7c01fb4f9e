"""XLSX sheets written row by row keep what a sortable download needs."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import load_workbook

from tracelot.standards.spreadsheet import Sheet, workbook


def test_a_table_sheet_has_a_bold_frozen_filtered_header_widths_and_date_formats():
    rows = [["lot", "expires", "note"], ["L-1", date(2026, 1, 2), None], ["L-2", None, "held"]]
    table = Sheet("Lots", iter(rows), freeze="B2", widths=[12, 20], formats={1: "yyyy-mm-dd"})
    ws = load_workbook(io.BytesIO(workbook([table])))["Lots"]
    assert [[c.value for c in row] for row in ws.iter_rows()] == [
        ["lot", "expires", "note"],
        ["L-1", ws["B2"].value, None],
        ["L-2", None, "held"],
    ]
    assert ws["B2"].value.date() == date(2026, 1, 2) and ws["B2"].number_format == "yyyy-mm-dd"
    assert all(c.font.b for c in ws[1]) and not ws["A2"].font.b
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == "A1:C3"
    assert ws.column_dimensions["B"].width == 20


def test_a_sheet_of_pairs_has_no_header_panes_or_filter():
    book = workbook(
        [Sheet("Summary", [["summary", "Nothing shipped."], ["balanced", True]], False)]
    )
    ws = load_workbook(io.BytesIO(book))["Summary"]
    assert ws["B2"].value is True and not ws["A1"].font.b
    assert ws.freeze_panes is None and ws.auto_filter.ref is None

"""Serial number patterns (domain/numbering.py): pure rules."""

from __future__ import annotations

from datetime import date

import pytest

from tracelot.domain import numbering
from tracelot.domain.errors import TracelotError


def test_a_pattern_fills_in_the_year_and_pads_the_sequence():
    s = numbering.series("SN-{YYYY}-{seq:06}", date(2026, 3, 9))
    assert s.number(42) == "SN-2026-000042"
    assert s.numbers(9, 3) == ["SN-2026-000009", "SN-2026-000010", "SN-2026-000011"]


def test_the_series_key_changes_with_the_year_so_the_sequence_restarts():
    a = numbering.series("SN-{YYYY}-{seq:06}", date(2026, 12, 31))
    b = numbering.series("SN-{YYYY}-{seq:06}", date(2027, 1, 1))
    assert a.key != b.key
    assert numbering.series("SN-{YYYY}-{seq:06}", date(2026, 1, 1)).key == a.key


def test_sku_month_day_and_a_suffix_are_filled_in():
    s = numbering.series("{SKU}/{YY}{MM}{DD}/{seq}-X", date(2026, 3, 9), "EM-1")
    assert s.number(7) == "EM-1/260309/7-X"


def test_no_pattern_uses_the_default():
    assert numbering.series(None, date(2026, 1, 1)).number(1) == "SN-2026-000001"


@pytest.mark.parametrize(
    "pattern", ["SN-{YYYY}", "SN-{seq}-{seq}", "SN-{WEEK}-{seq}", "SN-{seq:abc}"]
)
def test_a_pattern_without_exactly_one_valid_sequence_is_refused(pattern):
    assert numbering.problem(pattern)
    with pytest.raises(TracelotError) as exc:
        numbering.series(pattern, date(2026, 1, 1))
    assert exc.value.details[0].path == "serial_pattern"

"""Serial numbers: what they may look like, and fast entry of many."""

import pytest

from tracelot.domain import serials
from tracelot.domain.errors import TracelotError


def test_a_serial_of_32_allowed_characters_is_valid():
    assert serials.problem("A" * 30 + "-.") is None
    assert serials.problem("SN 1/2,3_4") is None


def test_a_serial_of_33_characters_is_refused():
    assert "33 characters" in serials.problem("A" * 33)


@pytest.mark.parametrize("bad", ["SN#1", "SN*1", "ÄÖ", "a\tb", ""])
def test_forbidden_characters_are_refused(bad):
    assert serials.problem(bad)


@pytest.mark.parametrize("bad", ["SN-1\n", "SN-1\r\n", "SN-1\nSN-2"])
def test_a_serial_with_a_line_break_even_a_trailing_one_is_refused(bad):
    message = serials.problem(bad)
    assert message and "only letters, digits" in message


def test_validate_names_every_bad_serial_and_repeats():
    with pytest.raises(TracelotError) as exc:
        serials.validate(["OK-1", "B#D", "OK-1"])
    paths = [d.path for d in exc.value.details]
    assert paths == ["serial_numbers[1]", "serial_numbers[2]"]
    assert exc.value.details[1].code == "DUPLICATE"


def test_ranges_expand_with_zero_padding():
    assert serials.expand(["SN-001..SN-003", "X"]) == ["SN-001", "SN-002", "SN-003", "X"]
    assert serials.expand(["SN-008..010"]) == ["SN-008", "SN-009", "SN-010"]


def test_a_backwards_range_is_refused():
    with pytest.raises(TracelotError):
        serials.expand(["SN-5..SN-1"])


def test_pastes_split_on_newlines_tabs_and_semicolons():
    assert serials.split_paste("A\r\nB\tC; D\n\n") == ["A", "B", "C", "D"]

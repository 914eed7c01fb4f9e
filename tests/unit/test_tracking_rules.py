"""SPEC §1: the rules for changing an item's tracking, decided without a database."""

import pytest

from tracelot.domain.errors import TracelotError
from tracelot.domain.tracking import (
    Tracking,
    TrackingChange,
    batch_number_problem,
    from_flags,
    plan_change,
)

N, B, S = Tracking.NONE, Tracking.BATCH, Tracking.SERIAL


def plan(current, wanted, stock=True, records=True, confirmed=False):
    return plan_change(
        current,
        wanted,
        has_stock=stock,
        has_records=records,
        confirmed=confirmed,
        item_name="Widget",
    )


def test_none_to_batch_with_stock_unbatches_it():
    assert plan(N, B, records=False) is TrackingChange.UNBATCH_STOCK


def test_none_to_serial_with_stock_reports_a_gap():
    assert plan(N, S, records=False) is TrackingChange.REPORT_SERIAL_GAP


def test_none_to_tracked_without_stock_needs_nothing():
    assert plan(N, B, stock=False, records=False) is TrackingChange.NOTHING


@pytest.mark.parametrize(("current", "wanted"), [(B, S), (S, B)])
def test_switching_batch_to_serial_directly_is_refused_naming_both_ways_out(current, wanted):
    with pytest.raises(TracelotError) as exc:
        plan(current, wanted)
    assert exc.value.code == "TRACKING_SWITCH_REFUSED"
    assert "set its tracking to none first" in exc.value.message
    assert "create a new item" in exc.value.message


def test_removing_tracking_with_records_needs_confirmation():
    with pytest.raises(TracelotError) as exc:
        plan(B, N)
    assert exc.value.code == "CONFIRMATION_REQUIRED"
    assert plan(B, N, confirmed=True) is TrackingChange.ARCHIVE_AND_REMOVE


def test_removing_tracking_without_records_needs_nothing():
    assert plan(S, N, records=False) is TrackingChange.NOTHING


def test_both_flags_true_is_a_conflict():
    with pytest.raises(TracelotError) as exc:
        from_flags(True, True, N)
    assert exc.value.code == "TRACKING_CONFLICT"


def test_flags_read_as_one_mode():
    assert from_flags(None, None, B) is B
    assert from_flags(False, None, B) is N
    assert from_flags(False, None, S) is S
    assert from_flags(None, True, N) is S


@pytest.mark.parametrize("number", ["unbatched", "Unbatched", "UNBATCHED", " unbatched "])
def test_no_real_batch_may_be_called_unbatched_in_any_case(number):
    problem = batch_number_problem(number)
    assert problem and "reserved" in problem and "another batch number" in problem


@pytest.mark.parametrize("number", ["unbatched-2", "LOT-1", "un batched"])
def test_other_batch_numbers_are_allowed(number):
    assert batch_number_problem(number) is None

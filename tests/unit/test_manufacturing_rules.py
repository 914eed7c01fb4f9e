"""Manufacturing rules (domain/manufacturing.py): scaling, status, FEFO allocation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from tracelot.domain import manufacturing as mf
from tracelot.domain.errors import TracelotError

TODAY = date(2026, 6, 1)


def stock(*batches):
    return [
        mf.BatchStock(i + 1, f"L{i + 1}", D(q), exp, hold)
        for i, (q, exp, hold) in enumerate(batches)
    ]


def test_a_recipe_row_consumes_its_quantity_per_unit_times_the_completed_quantity():
    assert mf.consumption(D("0.25"), D(8)) == D(2)


def test_status_is_done_when_the_plan_is_reached_or_the_production_is_final():
    assert mf.status_after(D(5), D(5), False, "NOT_STARTED") == "DONE"
    assert mf.status_after(D(5), D(2), True, "NOT_STARTED") == "DONE"
    assert mf.status_after(D(5), D(2), False, "NOT_STARTED") == "PARTIALLY_COMPLETED"
    assert mf.status_after(D(5), D(0), False, "BLOCKED") == "BLOCKED"


def test_fefo_takes_the_earliest_expiry_first_and_spans_into_the_next():
    s = stock((4, date(2026, 9, 1), None), (3, date(2026, 7, 1), None), (9, None, None))
    assert mf.allocate(D(5), [], s, TODAY) == [(2, D(3)), (1, D(2))]


def test_fefo_never_proposes_expired_or_held_batches():
    s = stock(
        (4, date(2026, 5, 1), None), (4, date(2026, 6, 20), "mould"), (4, date(2026, 8, 1), None)
    )
    assert mf.allocate(D(3), [], s, TODAY) == [(3, D(3))]
    with pytest.raises(TracelotError) as exc:
        mf.allocate(D(5), [], s, TODAY)
    assert exc.value.code == "INSUFFICIENT_STOCK"


def test_an_explicit_expired_batch_is_refused_unless_allowed():
    s = stock((4, date(2026, 5, 1), None))
    with pytest.raises(TracelotError) as exc:
        mf.allocate(D(2), [(1, D(2))], s, TODAY)
    assert exc.value.code == "EXPIRED_BATCH"
    assert mf.allocate(D(2), [(1, D(2))], s, TODAY, allow_expired=True) == [(1, D(2))]


def test_an_explicit_pick_larger_than_the_batch_is_refused():
    s = stock((4, None, None), (10, None, None))
    with pytest.raises(TracelotError) as exc:
        mf.allocate(D(6), [(1, D(6))], s, TODAY)
    assert exc.value.code == "NOT_IN_STOCK"
    assert "L1" in exc.value.message


def test_a_soft_pick_takes_what_its_batch_holds_then_fefo():
    s = stock((4, None, None), (10, date(2026, 12, 1), None))
    assert mf.allocate(D(6), [(1, D(6))], s, TODAY, strict=False) == [(1, D(4)), (2, D(2))]


def test_allow_expired_lets_a_named_batch_through_but_fefo_still_skips_expired_ones():
    s = stock((4, date(2026, 5, 1), None), (4, date(2026, 8, 1), None), (4, date(2026, 4, 1), None))
    assert mf.allocate(D(3), [], s, TODAY, allow_expired=True) == [(2, D(3))]
    assert mf.allocate(D(6), [(1, D(2))], s, TODAY, allow_expired=True) == [(1, D(2)), (2, D(4))]
    with pytest.raises(TracelotError) as exc:
        mf.allocate(D(5), [], s, TODAY, allow_expired=True)
    assert exc.value.code == "INSUFFICIENT_STOCK"


def test_a_pick_without_a_quantity_takes_what_its_batch_holds_then_fefo():
    s = stock((5, date(2026, 7, 1), None), (5, date(2026, 8, 1), None), (3, date(2026, 9, 1), None))
    assert mf.allocate(D(6), [(3, None)], s, TODAY) == [(3, D(3)), (1, D(3))]
    assert mf.allocate(D(2), [(3, None)], s, TODAY) == [(3, D(2))]


def test_a_named_batch_without_a_quantity_that_holds_nothing_here_is_refused():
    s = stock((5, None, None))
    with pytest.raises(TracelotError) as exc:
        mf.allocate(D(2), [(9, None)], s, TODAY)
    assert exc.value.code == "NOT_IN_STOCK"
    assert mf.allocate(D(2), [(9, None)], s, TODAY, strict=False) == [(1, D(2))]

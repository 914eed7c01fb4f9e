"""Sales and picking rules without a database (issue 3)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from tracelot.domain import errors
from tracelot.domain.picking import BatchStock, check_pickable, fefo
from tracelot.domain.sales import (
    RowShipping,
    check_open,
    check_quantity,
    check_ship,
    order_status,
    order_tracing,
    row_tracing,
)

TODAY = date(2026, 5, 1)


def test_status_follows_fulfilments():
    assert order_status([RowShipping(D(3))]) == "NOT_SHIPPED"
    assert order_status([RowShipping(D(3))], "PENDING") == "PENDING"
    assert order_status([RowShipping(D(3), packed=D(1))]) == "PARTIALLY_PACKED"
    assert order_status([RowShipping(D(3), packed=D(3))]) == "PACKED"
    assert order_status([RowShipping(D(3), packed=D(2), delivered=D(1))]) == "PACKED"
    assert order_status([RowShipping(D(3), delivered=D(1))]) == "PARTIALLY_DELIVERED"
    assert (
        order_status([RowShipping(D(3), delivered=D(3)), RowShipping(D(1))])
        == "PARTIALLY_DELIVERED"
    )
    assert order_status([RowShipping(D(3), delivered=D(3))], "PACKED") == "DELIVERED"
    assert order_status([RowShipping(D(3))], "DELIVERED") == "NOT_SHIPPED"


def test_packing_three_with_two_serials_leaves_one_missing():
    t = row_tracing("serial", D(3), assigned=D(2), shipped=D(3), shipped_serials=2)
    assert (t.missing_serial_numbers, t.tracing_status) == (1, "missing")
    t = row_tracing("serial", D(3), assigned=D(3), shipped=D(3), shipped_serials=3)
    assert (t.missing_serial_numbers, t.tracing_status) == (0, "complete")
    assert row_tracing("none", D(3), D(0), D(3), 0).tracing_status == "not_required"
    assert row_tracing("batch", D(3), D(2), D(0), 0).tracing_status == "missing"


def test_order_tracing_is_the_worst_of_its_rows():
    assert order_tracing(["not_required", "complete"]) == "complete"
    assert order_tracing(["complete", "missing"]) == "missing"
    assert order_tracing(["not_required"]) == "not_required"


def test_assigning_to_a_delivered_row_is_refused_with_revert_first():
    check_open(RowShipping(D(2), packed=D(2)), "SO-1")
    check_open(RowShipping(D(2)), "SO-1")
    with pytest.raises(errors.TracelotError) as e:
        check_open(RowShipping(D(2), delivered=D(2)), "SO-1")
    assert e.value.code == "ORDER_DELIVERED" and "revert" in e.value.message


def test_a_partly_delivered_row_is_still_open_to_changes():
    partly = RowShipping(D(3), packed=D(0), delivered=D(1))
    assert not partly.all_delivered
    check_open(partly, "SO-1")
    assert order_status([partly]) == "PARTIALLY_DELIVERED"
    assert RowShipping(D(3), delivered=D(3)).all_delivered


@pytest.mark.parametrize("qty", [D(0), D(-1)])
def test_a_row_needs_a_positive_quantity(qty):
    with pytest.raises(errors.TracelotError):
        check_quantity(qty, "none", "quantity")


def test_serial_rows_sell_whole_units_and_shipping_cannot_exceed_the_row():
    with pytest.raises(errors.TracelotError):
        check_quantity(D("1.5"), "serial", "quantity")
    with pytest.raises(errors.TracelotError) as e:
        check_ship(RowShipping(D(3), packed=D(2)), D(2), "quantity")
    assert e.value.code == "QUANTITY_EXCEEDED"


def _b(i: int, days: int | None, qty: int, hold: str | None = None) -> BatchStock:
    exp = TODAY + timedelta(days=days) if days is not None else None
    return BatchStock(i, f"L{i}", exp, D(qty), hold)


def test_fefo_takes_the_earliest_expiry_first_and_spans_into_the_next():
    p = fefo([_b(1, 10, 4), _b(2, 20, 4), _b(3, 5, 4)], D(6), TODAY)
    assert [(k.batch_id, k.quantity) for k in p.picks] == [(3, D(4)), (1, D(2))]
    assert p.short == 0


def test_fefo_never_proposes_expired_or_held_batches_unless_expired_is_allowed():
    stocks = [_b(1, -1, 4), _b(2, None, 4), _b(3, 3, 1, hold="recall")]
    assert [k.batch_id for k in fefo(stocks, D(4), TODAY).picks] == [2]
    allowed = fefo(stocks, D(5), TODAY, allow_expired=True)
    assert [(k.batch_id, k.expired) for k in allowed.picks] == [(1, True), (2, False)]
    assert fefo(stocks, D(9), TODAY).short == D(5)


def test_picking_an_expired_or_held_batch_is_refused_by_name():
    with pytest.raises(errors.TracelotError) as e:
        check_pickable(_b(1, -1, 1), TODAY, False, "batch_id")
    assert e.value.code == "EXPIRED_BATCH" and "L1" in e.value.message
    check_pickable(_b(1, -1, 1), TODAY, True, "batch_id")
    check_pickable(_b(1, 0, 1), TODAY, False, "batch_id")  # good through its expiry day
    with pytest.raises(errors.TracelotError) as e:
        check_pickable(_b(2, 9, 1, hold="lab"), TODAY, True, "batch_id")
    assert e.value.code == "ON_HOLD" and "lab" in e.value.message

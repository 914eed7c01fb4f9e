"""Sales orders through the services, on SQLite and PostgreSQL (issue 3)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from support.world import World, check_ledger, ledger_snapshot
from tracelot.db.models import Movement, Serial
from tracelot.domain import errors
from tracelot.services import catalog, fulfillments, sales


def _setup(sessions, qty: int = 3):  # type: ignore[no-untyped-def]
    w = World(sessions).setup()
    _, (vid,) = w.item("Grinder", "serial")
    w.adjust([{"variant_id": vid, "quantity": 5, "serial_numbers": ["G-1..G-5"]}])
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Ada"}).id
        order = sales.create_order(
            s,
            {"customer_id": cust, "sales_order_rows": [{"variant_id": vid, "quantity": qty}]},
            "test",
        )
        ids = dict(s.execute(select(Serial.serial_number, Serial.id)).all())
        return w, vid, order.id, sales.live_rows(s, order.id)[0].id, ids


def test_make_to_stock_pack_short_assign_deliver_and_revert(sessions):
    w, vid, oid, rid, ids = _setup(sessions)
    with w.tx() as s:
        f = fulfillments.create(
            s,
            {
                "sales_order_id": oid,
                "status": "PACKED",
                "sales_order_fulfillment_rows": [
                    {
                        "sales_order_row_id": rid,
                        "quantity": 3,
                        "serial_numbers": [ids["G-1"], ids["G-2"]],
                    }
                ],
            },
            "t",
        )
        fid = f.id
    with w.tx() as s:
        order = s.get(sales.SalesOrder, oid)
        row = s.get(sales.SalesOrderRow, rid)
        assert (order.status, order.missing_serial_numbers, order.tracing_status) == (
            "PACKED",
            1,
            "missing",
        )
        assert (row.missing_serial_numbers, row.tracing_status) == (1, "missing")
        check_ledger(s)
    with w.tx() as s:
        sales.assign_serials(s, s.get(sales.SalesOrderRow, rid), [ids["G-3"]], "t")
    with w.tx() as s:
        order = s.get(sales.SalesOrder, oid)
        assert (order.missing_serial_numbers, order.tracing_status) == (0, "complete")
        fulfillments.update_fulfillment(
            s, s.get(sales.SalesOrderFulfillment, fid), {"status": "DELIVERED"}, "t"
        )
    with w.tx() as s:
        assert s.get(sales.SalesOrder, oid).status == "DELIVERED"
        st = dict(s.execute(select(Serial.serial_number, Serial.status)).all())
        assert [st[n] for n in ("G-1", "G-2", "G-3")] == ["delivered"] * 3
        check_ledger(s)
        fulfillments.revert(s, s.get(sales.SalesOrder, oid), "t")
    with w.tx() as s:
        assert s.get(sales.SalesOrder, oid).status == "NOT_SHIPPED"
        st = dict(s.execute(select(Serial.serial_number, Serial.status)).all())
        assert [st[n] for n in ("G-1", "G-2", "G-3")] == ["reserved"] * 3
        moves = s.execute(
            select(Movement.reason, Movement.quantity)
            .where(Movement.resource_type == sales.FROW)
            .order_by(Movement.id)
        ).all()
        # Packing 3 with 2 serials takes all 3 units out; the third serial joins later
        # without moving quantity again; the revert brings all 3 back.
        assert [(r, int(q)) for r, q in moves] == [
            ("delivery", -3),
            ("delivery", 0),
            ("revert", 3),
        ]
        check_ledger(s)


def test_assigning_to_a_delivered_order_is_refused(sessions):
    w, vid, oid, rid, ids = _setup(sessions, qty=1)
    with w.tx() as s:
        fulfillments.create(
            s,
            {
                "sales_order_id": oid,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [{"sales_order_row_id": rid}],
            },
            "t",
        )
    with w.tx() as s:
        before = ledger_snapshot(s)
    with pytest.raises(errors.TracelotError) as e, w.tx() as s:
        sales.assign_serials(s, s.get(sales.SalesOrderRow, rid), [ids["G-4"]], "t")
    assert e.value.code == "ORDER_DELIVERED" and "revert" in e.value.message
    with w.tx() as s:
        assert ledger_snapshot(s) == before


def test_production_output_is_assigned_and_delivers_without_a_serial_step(sessions):
    w = World(sessions).setup()
    _, (vid,) = w.item("Made", "serial")
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Bo"}).id
        order = sales.create_order(
            s,
            {
                "customer_id": cust,
                "sales_order_rows": [{"variant_id": vid, "quantity": 2, "fulfilment": "order"}],
            },
            "t",
        )
        oid, rid = order.id, sales.live_rows(s, order.id)[0].id
        sales.link_manufacturing_order(s, rid, 77)
    with pytest.raises(errors.TracelotError) as e, w.tx() as s:
        sales.link_manufacturing_order(s, rid, 78)
    assert e.value.code == "ALREADY_LINKED"
    w.adjust([{"variant_id": vid, "quantity": 2, "serial_numbers": ["M-1", "M-2"]}])
    with w.tx() as s:  # stands in for the production transaction
        made = list(s.scalars(select(Serial.id).order_by(Serial.id)))
        sales.assign_production_output(
            s, rid, serial_ids=made, batch_id=None, quantity=Decimal(2), actor="t"
        )
        assert s.get(sales.SalesOrderRow, rid).tracing_status == "complete"
    with w.tx() as s:  # named form: the fulfilment names the produced serials
        fulfillments.create(
            s,
            {
                "sales_order_id": oid,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [
                    {"sales_order_row_id": rid, "quantity": 1, "serial_numbers": [made[0]]}
                ],
            },
            "t",
        )
    with w.tx() as s:  # omitted form: the row's held serials ship
        fulfillments.create(
            s,
            {
                "sales_order_id": oid,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [{"sales_order_row_id": rid, "quantity": 1}],
            },
            "t",
        )
    with w.tx() as s:
        order = s.get(sales.SalesOrder, oid)
        assert (order.status, order.missing_serial_numbers) == ("DELIVERED", 0)
        assert set(s.scalars(select(Serial.status))) == {"delivered"}
        check_ledger(s)


def test_release_production_output_and_unlink(sessions):
    w = World(sessions).setup()
    _, (vid,) = w.item("Made", "serial")
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Bo"}).id
        order = sales.create_order(
            s,
            {
                "customer_id": cust,
                "sales_order_rows": [{"variant_id": vid, "quantity": 2, "fulfilment": "order"}],
            },
            "t",
        )
        rid = sales.live_rows(s, order.id)[0].id
        sales.link_manufacturing_order(s, rid, 5)
    w.adjust([{"variant_id": vid, "quantity": 2, "serial_numbers": ["M-1", "M-2"]}])
    with w.tx() as s:
        made = list(s.scalars(select(Serial.id).order_by(Serial.id)))
        sales.assign_production_output(
            s, rid, serial_ids=made, batch_id=None, quantity=Decimal(2), actor="t"
        )
        sales.release_production_output(s, rid, made[:1], None, Decimal(1), "t")
        assert s.get(Serial, made[0]).status == "in_stock"
        assert s.get(Serial, made[1]).status == "reserved"
        sales.unlink_manufacturing_order(s, rid, "t")
        assert s.get(sales.SalesOrderRow, rid).linked_manufacturing_order_id is None
        check_ledger(s)


def test_packing_short_of_serials_takes_the_full_quantity_out_of_stock(sessions):
    """Stock levels stay true when serials are missing; the warning tracks the serials."""
    from sqlalchemy import func

    from tracelot.db.models import Stock

    w, vid, oid, rid, ids = _setup(sessions)
    with w.tx() as s:
        fulfillments.create(
            s,
            {
                "sales_order_id": oid,
                "status": "PACKED",
                "sales_order_fulfillment_rows": [
                    {"sales_order_row_id": rid, "quantity": 3, "serial_numbers": [ids["G-1"]]}
                ],
            },
            "t",
        )
    with w.tx() as s:
        on_hand = s.scalar(select(func.sum(Stock.quantity)).where(Stock.variant_id == vid))
        assert on_hand == Decimal(2)
        assert s.get(sales.SalesOrderRow, rid).missing_serial_numbers == 2
        check_ledger(s)


def test_a_partly_delivered_make_to_order_row_still_takes_production_output(sessions):
    w = World(sessions).setup()
    _, (vid,) = w.item("Made", "serial")
    w.adjust([{"variant_id": vid, "quantity": 1, "serial_numbers": ["S-1"]}])
    with w.tx() as s:
        cust = catalog.save_customer(s, None, {"name": "Bo"}).id
        order = sales.create_order(
            s,
            {
                "customer_id": cust,
                "sales_order_rows": [{"variant_id": vid, "quantity": 3, "fulfilment": "order"}],
            },
            "t",
        )
        oid, rid = order.id, sales.live_rows(s, order.id)[0].id
        sales.link_manufacturing_order(s, rid, 9)
        fulfillments.create(
            s,
            {
                "sales_order_id": oid,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [
                    {"sales_order_row_id": rid, "quantity": 1, "serial_numbers": []}
                ],
            },
            "t",
        )
    with w.tx() as s:
        assert s.get(sales.SalesOrder, oid).status == "PARTIALLY_DELIVERED"
        before = {i for i in s.scalars(select(Serial.id))}
    w.adjust([{"variant_id": vid, "quantity": 2, "serial_numbers": ["M-1", "M-2"]}])
    with w.tx() as s:  # stands in for the production transaction
        made = sorted(set(s.scalars(select(Serial.id))) - before)
        sales.assign_production_output(
            s, rid, serial_ids=made, batch_id=None, quantity=Decimal(2), actor="t"
        )
    with w.tx() as s:
        held = set(
            s.scalars(
                select(Serial.id).where(Serial.holder_type == sales.ROW, Serial.holder_id == rid)
            )
        )
        assert held == set(made)
        assert s.get(sales.SalesOrderRow, rid).traced_quantity == 2
        check_ledger(s)


@pytest.mark.parametrize(
    ("status", "code", "says"),
    [("PACKED", "IN_USE", "PACKED"), ("DELIVERED", "ORDER_DELIVERED", "delivered")],
)
def test_a_row_cannot_be_added_to_a_packed_or_delivered_order(sessions, status, code, says):
    w, vid, oid, rid, ids = _setup(sessions, qty=1)
    with w.tx() as s:
        fulfillments.create(
            s,
            {
                "sales_order_id": oid,
                "status": status,
                "sales_order_fulfillment_rows": [{"sales_order_row_id": rid}],
            },
            "t",
        )
    with pytest.raises(errors.TracelotError) as e, w.tx() as s:
        sales.add_row(s, s.get(sales.SalesOrder, oid), {"variant_id": vid, "quantity": 1})
    assert (e.value.code, e.value.details[0].path) == (code, "sales_order_id")
    assert says in e.value.message and "revert" in e.value.message
    with w.tx() as s:
        assert [r.id for r in sales.live_rows(s, oid)] == [rid]

"""A first end-to-end check of the ledger through the services, on both databases."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from support.world import World, check_ledger
from tracelot.db.models import Batch, Stock


def test_receiving_serials_and_batches_keeps_cache_equal_to_ledger(sessions):
    w = World(sessions).setup()
    _, (s_variant,) = w.item("Serial thing", "serial")
    _, (b_variant,) = w.item("Batch thing", "batch")
    w.adjust(
        [
            {"variant_id": s_variant, "quantity": 3, "serial_numbers": ["A-1..A-3"]},
            {
                "variant_id": b_variant,
                "quantity": 5,
                "batch_transactions": [{"batch_number": "L1", "quantity": 5}],
            },
        ]
    )
    with w.tx() as s:
        check_ledger(s)


def test_a_negative_adjustment_naming_a_batch_number_takes_from_that_batch(sessions):
    w = World(sessions).setup()
    _, (v,) = w.item("Batch thing", "batch")
    w.adjust(
        [
            {
                "variant_id": v,
                "quantity": 5,
                "batch_transactions": [{"batch_number": "L1", "quantity": 5}],
            }
        ]
    )
    w.adjust(
        [
            {
                "variant_id": v,
                "quantity": -2,
                "batch_transactions": [{"batch_number": "L1", "quantity": 2}],
            }
        ]
    )
    with w.tx() as s:
        left = s.execute(
            select(Batch.batch_number, Stock.quantity).join(Stock, Stock.batch_id == Batch.id)
        ).all()
        assert [(n, Decimal(q)) for n, q in left] == [("L1", Decimal(3))]
        check_ledger(s)

"""A first end-to-end check of the ledger through the services, on both databases."""

from __future__ import annotations

from support.world import World, check_ledger


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

"""How W1 sells one order: create it, assign serials or pick batches FEFO, deliver.

Kept apart because the sales capability is built in parallel: these adapters
call what ``tracelot.services.sales`` / ``fulfillments`` / ``picking`` offer
(and the sales API over HTTP), and say so when it is not there yet (phases 3
and 4 are then skipped and the report says why).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common import has_module

Step = Callable[[Any, int, int, int, int], None]


def service_steps() -> Step | None:
    if not (
        has_module("tracelot.services.fulfillments") and has_module("tracelot.services.picking")
    ):
        return None
    from tracelot.services import fulfillments, picking, sales

    def sell(db: Any, customer: int, loc: int, variant: int, qty: int) -> None:
        order = sales.create_order(
            db,
            {
                "customer_id": customer,
                "location_id": loc,
                "sales_order_rows": [{"variant_id": variant, "quantity": qty}],
            },
            "bench",
        )
        row = sales.live_rows(db, order.id)[0]
        if variant_tracking(db, variant) == "serial":
            found = picking.serial_picker(db, row, limit=qty).serials
            sales.assign_serials(db, row, [s.id for s in found], "bench")
        else:
            proposal = picking.row_proposal(db, row)
            sales.set_batch_picks(
                db,
                row,
                [{"batch_id": p.batch_id, "quantity": p.quantity} for p in proposal.picks],
                "bench",
            )
        fulfillments.create(
            db,
            {
                "sales_order_id": order.id,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [{"sales_order_row_id": row.id}],
            },
            "bench",
        )

    return sell


def variant_tracking(db: Any, variant_id: int) -> str:
    from tracelot.db.models import Variant

    v = db.get(Variant, variant_id)
    return str(v.item.tracking)


def http_steps() -> Step | None:
    """Over HTTP: POST /sales_orders, the picker / FEFO proposal, assignment, fulfilment."""
    return None

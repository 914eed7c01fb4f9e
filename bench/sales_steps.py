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
        # the new row comes back with its order, as POST /v1/sales_orders answers it
        order, (row,) = sales.create_order_rows(
            db,
            {
                "customer_id": customer,
                "location_id": loc,
                "sales_order_rows": [{"variant_id": variant, "quantity": qty}],
            },
            "bench",
        )
        frow: dict[str, Any] = {"sales_order_row_id": row.id}
        if sales.variant_facts(db, variant).tracking == "serial":
            # the packing bench: pick free serials, scan them into the delivery (which holds them)
            found = picking.serial_picker(db, row, limit=qty).serials
            frow["serial_numbers"] = [s.id for s in found]
        # batch rows: the delivery takes the row's batches first-expired-first-out
        fulfillments.create(
            db,
            {
                "sales_order_id": order.id,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [frow],
            },
            "bench",
        )

    return sell


def variant_tracking(db: Any, variant_id: int) -> str:
    from tracelot.db.models import Variant

    v = db.get(Variant, variant_id)
    return str(v.item.tracking)


def http_steps(serial_variant: int = 0) -> Step | None:
    """Over HTTP, two requests per order: POST /v1/sales_orders, then one DELIVERED
    POST /v1/sales_order_fulfillments that names the serials scanned at the bench
    (``serial_number_strings``: it holds and ships them) or, for a batch row, lets
    the delivery take batches first-expired-first-out.

    W1 sells serials in number order, so the client knows which labels are next
    (the numbers W1 received: SN-000001...), as a packer scanning labels would.
    """
    if not has_module("tracelot.api.routes.sales"):
        return None
    next_serial = [1]

    def sell(http: Any, customer: int, loc: int, variant: int, qty: int) -> None:
        order = _post(
            http,
            "/v1/sales_orders",
            {
                "customer_id": customer,
                "location_id": loc,
                "sales_order_rows": [{"variant_id": variant, "quantity": qty}],
            },
        )
        row = order["sales_order_rows"][0]
        frow: dict[str, Any] = {"sales_order_row_id": row["id"]}
        if variant == serial_variant:
            first = next_serial[0]
            frow["serial_number_strings"] = [f"SN-{i:06d}" for i in range(first, first + qty)]
            next_serial[0] += qty
        _post(
            http,
            "/v1/sales_order_fulfillments",
            {
                "sales_order_id": order["id"],
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [frow],
            },
        )

    return sell


def _post(http: Any, path: str, body: dict[str, Any]) -> Any:
    r = http.post(path, json=body)
    if r.status_code >= 300:
        raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:500]}")
    return r.json()

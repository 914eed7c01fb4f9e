"""The three-level recall scenario (issue 5 acceptance #1-#3).

Supplier lot -> sub-assembly serials -> final serials -> 3 customers, plus one
unaffected customer whose unit came from another lot.

Built through the purchasing, manufacturing and sales services, as users do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from support.world import World
from tracelot.db.models import Batch, Serial
from tracelot.services import batches, catalog, fulfillments, manufacturing, purchasing, sales


@dataclass
class Scenario:
    world: World
    lot: int = 0  # the affected supplier lot (batch id)
    other_lot: int = 0
    resin: int = 0  # variant ids
    board: int = 0
    gadget: int = 0
    finals: dict[str, int] = field(default_factory=dict)  # serial number -> id
    subs: dict[str, int] = field(default_factory=dict)
    shipped_to: dict[str, list[str]] = field(default_factory=dict)  # customer -> finals


def build(w: World) -> Scenario:
    """Through the real services: PO receipt, two MO levels, sales fulfilments."""
    sc = Scenario(w)
    _, (sc.resin,) = w.item("Resin", "batch", "material", skus=("RESIN",))
    _, (sc.board,) = w.item("Board", "serial", skus=("BOARD",))
    _, (sc.gadget,) = w.item("Gadget", "serial", skus=("GADGET",))
    with w.tx() as s:
        sup = catalog.save_supplier(
            s,
            None,
            {
                "name": "ACME Resins",
                "phone": "+1 555 0100",
                "line_1": "1 Mill Rd",
                "city": "Springfield",
            },
        )
        sc.lot = batches.create_batch(
            s, {"batch_number": "SUP-LOT-7", "variant_id": sc.resin, "supplier_lot": "ACME-991"}
        ).id
        sc.other_lot = batches.create_batch(
            s, {"batch_number": "SUP-LOT-8", "variant_id": sc.resin}
        ).id
        po = purchasing.create_order(
            s,
            {
                "supplier_id": sup.id,
                "location_id": w.location_id,
                "order_no": "PO-1",
                "purchase_order_rows": [
                    {"variant_id": sc.resin, "quantity": 15, "price_per_unit": 1}
                ],
            },
            "test",
        )
        row = purchasing.order_rows(s, po.id)[0]
        purchasing.receive(
            s,
            [
                {
                    "purchase_order_row_id": row.id,
                    "quantity": 15,
                    "batch_transactions": [
                        {"batch_id": sc.lot, "quantity": 10},
                        {"batch_id": sc.other_lot, "quantity": 5},
                    ],
                }
            ],
            "test",
        )
    for n, lot in [(1, sc.lot), (2, sc.lot), (3, sc.lot), (4, sc.lot), (5, sc.other_lot)]:
        sc.subs[f"SUB-{n}"] = _produce(
            w, sc.board, f"SUB-{n}", sc.resin, [{"batch_id": lot, "quantity": 2}], 2
        )
    for n in range(1, 6):
        sc.finals[f"FIN-{n}"] = _produce(
            w, sc.gadget, f"FIN-{n}", sc.board, [{"serial_number_id": sc.subs[f"SUB-{n}"]}], 1
        )
    sc.shipped_to = {
        "Alice": ["FIN-1", "FIN-2"],
        "Bob": ["FIN-3"],
        "Carol": ["FIN-4"],
        "Dave": ["FIN-5"],
    }
    for name, fins in sc.shipped_to.items():
        _sell(w, sc.gadget, name, [sc.finals[f] for f in fins])
    return sc


def _produce(
    w: World,
    variant_id: int,
    number: str,
    ingredient: int,
    traceability: list[dict[str, int]],
    per_unit: int,
) -> int:
    with w.tx() as s:
        mo = manufacturing.create_order(
            s,
            {"variant_id": variant_id, "planned_quantity": 1, "location_id": w.location_id},
            "test",
        )
        manufacturing.add_recipe_row(
            s,
            {
                "manufacturing_order_id": mo.id,
                "variant_id": ingredient,
                "planned_quantity_per_unit": per_unit,
            },
            "test",
        )
        (sid,) = manufacturing.link_serials(s, mo.id, [number], "test")
        manufacturing.produce(
            s,
            {
                "manufacturing_order_id": mo.id,
                "completed_quantity": 1,
                "serial_numbers": [sid],
                "traceability": traceability,
            },
            "test",
        )
        return int(sid)


def _sell(w: World, variant_id: int, customer: str, serial_ids: list[int]) -> None:
    with w.tx() as s:
        cust = catalog.save_customer(
            s,
            None,
            {
                "name": customer,
                "email": f"{customer.lower()}@example.com",
                "addresses": [
                    {
                        "entity_type": "shipping",
                        "line_1": f"{customer} St 1",
                        "city": "Metropolis",
                        "phone": "+1 555 0199",
                    }
                ],
            },
        )
        so = sales.create_order(
            s,
            {
                "customer_id": cust.id,
                "location_id": w.location_id,
                "sales_order_rows": [{"variant_id": variant_id, "quantity": len(serial_ids)}],
            },
            "test",
        )
        row = sales.live_rows(s, so.id)[0]
        sales.assign_serials(s, row, serial_ids, "test")
        fulfillments.create(
            s,
            {
                "sales_order_id": so.id,
                "status": "DELIVERED",
                "sales_order_fulfillment_rows": [
                    {"sales_order_row_id": row.id, "quantity": len(serial_ids)}
                ],
            },
            "test",
        )


def serial_id(w: World, number: str) -> int:
    with w.tx() as s:
        return int(s.scalar(select(Serial.id).where(Serial.serial_number == number)))


def shipped_lot(w: World) -> int:
    """Batch JAM-7 (10 jars), 4 of them delivered to a customer; its id."""
    _, (vid,) = w.item("Jam", "batch")
    w.adjust(
        [
            {
                "variant_id": vid,
                "quantity": 10,
                "batch_transactions": [{"batch_number": "JAM-7", "quantity": 10}],
            }
        ]
    )
    with w.tx() as s:
        batch_id = s.query(Batch).filter_by(batch_number="JAM-7").one().id
        cust = catalog.save_customer(s, None, {"name": "Toast Café"})
        order = sales.create_order(
            s,
            {
                "customer_id": cust.id,
                "location_id": w.location_id,
                "sales_order_rows": [{"variant_id": vid, "quantity": 4}],
            },
            "test",
        )
        row = sales.live_rows(s, order.id)[0]
        sales.set_batch_picks(s, row, [{"batch_id": batch_id, "quantity": 4}], "test")
        fulfillments.deliver(s, order, "test")
        return batch_id

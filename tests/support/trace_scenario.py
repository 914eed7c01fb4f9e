"""The three-level recall scenario (issue 5 acceptance #1-#3).

Supplier lot -> sub-assembly serials -> final serials -> 3 customers, plus one
unaffected customer whose unit came from another lot.

TEMPORARY: production and delivery are written with ``ledger.post`` and
genealogy rows directly, until the manufacturing and sales services land;
then ``build`` switches to them (same shape, same names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from support.world import World
from tracelot.db.models import Batch, Genealogy, Serial, Variant
from tracelot.services import ledger, serials


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
    shipped_to: dict[str, list[str]] = field(default_factory=dict)  # order -> final serials


def build(w: World) -> Scenario:
    sc = Scenario(w)
    _, (sc.resin,) = w.item("Resin", "batch", "material", skus=("RESIN",))
    _, (sc.board,) = w.item("Board", "serial", skus=("BOARD",))
    _, (sc.gadget,) = w.item("Gadget", "serial", skus=("GADGET",))
    w.adjust(
        [
            {
                "variant_id": sc.resin,
                "quantity": 10,
                "batch_transactions": [{"batch_number": "SUP-LOT-7", "quantity": 10}],
            }
        ]
    )
    w.adjust(
        [
            {
                "variant_id": sc.resin,
                "quantity": 5,
                "batch_transactions": [{"batch_number": "SUP-LOT-8", "quantity": 5}],
            }
        ]
    )
    with w.tx() as s:
        sc.lot = s.scalar(select(Batch.id).where(Batch.batch_number == "SUP-LOT-7"))
        sc.other_lot = s.scalar(select(Batch.id).where(Batch.batch_number == "SUP-LOT-8"))
        s.get(Batch, sc.lot).supplier_lot = "ACME-991"  # type: ignore[union-attr]
    # sub-assemblies: SUB-1..4 from lot 7 (2 each), SUB-5 from lot 8
    for n, lot in [(1, sc.lot), (2, sc.lot), (3, sc.lot), (4, sc.lot), (5, sc.other_lot)]:
        sc.subs[f"SUB-{n}"] = _produce(w, sc.board, f"SUB-{n}", [(sc.resin, lot, None, 2)], n)
    # final products: FIN-n from SUB-n
    for n in range(1, 6):
        sc.finals[f"FIN-{n}"] = _produce(
            w, sc.gadget, f"FIN-{n}", [(sc.board, None, sc.subs[f"SUB-{n}"], 1)], 100 + n
        )
    # SO-1 (two units), SO-2, SO-3 affected; SO-4 from the other lot; FIN-4 stays in stock
    sc.shipped_to = {"SO-1": ["FIN-1", "FIN-2"], "SO-2": ["FIN-3"], "SO-4": ["FIN-5"]}
    for i, (order, fins) in enumerate(sc.shipped_to.items(), start=1):
        _deliver(w, sc.gadget, order, [sc.finals[f] for f in fins], i)
    return sc


def _produce(
    w: World,
    variant_id: int,
    number: str,
    inputs: list[tuple[int, int | None, int | None, int]],
    production_id: int,
) -> int:
    with w.tx() as s:
        variant = s.get(Variant, variant_id)
        (sid,) = serials.mint(s, variant, [number])  # type: ignore[arg-type]
        doc = ledger.Doc(
            "consumption",
            "ProductionIngredient",
            production_id,
            "test",
            document=f"MO-{production_id}",
            serial_status_out="consumed",
        )
        for vid, batch_id, serial_id, qty in inputs:
            ledger.post(
                s,
                doc,
                [
                    ledger.Change(
                        vid,
                        w.location_id,
                        Decimal(-qty),
                        batch_id,
                        [serial_id] if serial_id else [],
                    )
                ],
            )
            s.add(
                Genealogy(
                    output_variant_id=variant_id,
                    output_serial_id=sid,
                    input_variant_id=vid,
                    input_batch_id=batch_id,
                    input_serial_id=serial_id,
                    quantity=Decimal(qty),
                    resource_type="Production",
                    resource_id=production_id,
                )
            )
        ledger.post(
            s,
            ledger.Doc(
                "production", "Production", production_id, "test", document=f"MO-{production_id}"
            ),
            [ledger.Change(variant_id, w.location_id, Decimal(1), serial_ids=[sid])],
        )
        return sid


def _deliver(w: World, variant_id: int, order: str, serial_ids: list[int], row_id: int) -> None:
    with w.tx() as s:
        ledger.post(
            s,
            ledger.Doc(
                "delivery",
                "SalesOrderFulfillmentRow",
                row_id,
                "test",
                document=order,
                caused_by_order_no=order,
                serial_status_out="delivered",
            ),
            [
                ledger.Change(
                    variant_id, w.location_id, Decimal(-len(serial_ids)), serial_ids=serial_ids
                )
            ],
        )


def serial_id(w: World, number: str) -> int:
    with w.tx() as s:
        return int(s.scalar(select(Serial.id).where(Serial.serial_number == number)))

"""Demo data for ``make run``: every tracking mode, stock with batches and serials."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracelot.db.models import Item
from tracelot.services import adjustments, catalog, users


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Item))


def load(session: Session, actor: str = "demo") -> None:
    users.ensure_demo_user(session)  # the web app's demo / demo sign-in
    main = catalog.save_location(
        session,
        None,
        {
            "name": "Main warehouse",
            "is_primary": True,
            "legal_name": "Demo Roasters Ltd",
            "line_1": "1 Mill Lane",
            "city": "Leeds",
            "zip": "LS1 1AA",
            "country": "GB",
            "phone": "+44 113 000 0000",
        },
    )
    catalog.save_location(session, None, {"name": "Shop", "city": "York", "country": "GB"})
    catalog.save_customer(
        session,
        None,
        {
            "name": "Café Aurora",
            "email": "orders@aurora.example",
            "phone": "+44 20 0000 0000",
            "addresses": [
                {
                    "entity_type": "shipping",
                    "line_1": "5 High St",
                    "city": "London",
                    "zip": "N1 1AA",
                    "country": "GB",
                }
            ],
        },
    )
    catalog.save_supplier(
        session, None, {"name": "Green Bean Traders", "email": "sales@greenbean.example"}
    )
    machine = catalog.create_item(
        session,
        "product",
        {
            "name": "Espresso machine",
            "tracking": "serial",
            "is_producible": True,
            "serial_pattern": "EM-{YYYY}-{seq:05}",
            "variants": [{"sku": "EM-1", "sales_price": 899}],
        },
    )
    beans = catalog.create_item(
        session,
        "product",
        {
            "name": "Roasted coffee 1 kg",
            "tracking": "batch",
            "is_producible": True,
            "variants": [{"sku": "RC-1KG", "gtin": "09506000134352", "sales_price": 24}],
        },
    )
    tamper = catalog.create_item(
        session, "product", {"name": "Tamper", "variants": [{"sku": "TMP-58"}]}
    )
    green = catalog.create_item(
        session,
        "material",
        {"name": "Green coffee", "tracking": "batch", "variants": [{"sku": "GC-1KG"}]},
    )
    pump = catalog.create_item(
        session,
        "material",
        {"name": "Pump module", "tracking": "serial", "variants": [{"sku": "PUMP-9"}]},
    )
    today = date.today()
    adjustments.create(
        session,
        {
            "location_id": main.id,
            "reason": "Opening stock",
            "stock_adjustment_rows": [
                {
                    "variant_id": machine.variants[0].id,
                    "quantity": 20,
                    "serial_numbers": ["EM-0001..EM-0020"],
                },
                {
                    "variant_id": beans.variants[0].id,
                    "quantity": 300,
                    "batch_transactions": [
                        {
                            "batch_number": f"RC-{n}",
                            "expiration_date": today + timedelta(days=30 * n),
                            "quantity": 100,
                        }
                        for n in (1, 2, 3)
                    ],
                },
                {"variant_id": tamper.variants[0].id, "quantity": 40},
                {
                    "variant_id": green.variants[0].id,
                    "quantity": 500,
                    "batch_transactions": [
                        {
                            "batch_number": "GB-2026-07",
                            "expiration_date": today + timedelta(days=365),
                            "quantity": 500,
                        }
                    ],
                },
                {
                    "variant_id": pump.variants[0].id,
                    "quantity": 10,
                    "serial_numbers": ["P9-100..P9-109"],
                },
            ],
        },
        actor,
    )

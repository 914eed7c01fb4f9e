"""The real Katana client against a live tracelot server: make-to-order manufacturing.

Issue 4, acceptance 6: katana-openapi-client creates a manufacturing order
linked to a sales row, mints serials on it, posts a production with those
serial numbers and reads everything back; every response parses into the
client's models.
"""

from __future__ import annotations

import httpx
from katana_public_api_client import KatanaClient
from katana_public_api_client.api.customer import create_customer
from katana_public_api_client.api.manufacturing_order import (
    create_manufacturing_order,
    get_all_manufacturing_order_productions,
    get_all_manufacturing_orders,
    get_manufacturing_order,
    make_to_order_manufacturing_order,
    unlink_manufacturing_order,
)
from katana_public_api_client.api.manufacturing_order_production import (
    create_manufacturing_order_production,
    get_manufacturing_order_production,
)
from katana_public_api_client.api.manufacturing_order_recipe import (
    create_manufacturing_order_recipe_rows,
    get_all_manufacturing_order_recipe_rows,
)
from katana_public_api_client.api.product import create_product
from katana_public_api_client.api.sales_order import create_sales_order
from katana_public_api_client.api.sales_order_row import get_sales_order_row
from katana_public_api_client.api.serial_number import create_serial_numbers
from katana_public_api_client.models import (
    CreateCustomerRequest,
    CreateManufacturingOrderProductionRequest,
    CreateManufacturingOrderRecipeRowRequest,
    CreateManufacturingOrderRequest,
    CreateProductRequest,
    CreateSalesOrderRequest,
    CreateSerialNumbersRequest,
    MakeToOrderManufacturingOrderRequest,
    UnlinkManufacturingOrderRequest,
)

from support import aio
from support.live_server import live_server


def _ok(response, model_name: str | None = None):  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    parsed = response.parsed
    assert parsed is not None, response.content
    assert type(parsed).__name__ != "ErrorResponse", response.content
    if model_name:
        assert type(parsed).__name__ == model_name, type(parsed)
    return parsed


async def _scenario(base_url: str, token: str, loc_id: int) -> None:
    async with KatanaClient(
        api_key=token, base_url=f"{base_url}/v1", max_retries=0, requests_per_minute=None
    ) as client:

        def product(name: str, serial: bool) -> dict:
            return {"name": name, "serial_tracked": serial, "variants": [{"sku": name.upper()}]}

        bike = _ok(
            await create_product.asyncio_detailed(
                client=client, body=CreateProductRequest.from_dict(product("Bike", True))
            ),
            "Product",
        )
        bell = _ok(
            await create_product.asyncio_detailed(
                client=client, body=CreateProductRequest.from_dict(product("Bell", False))
            )
        )
        bike_v, bell_v = bike.variants[0].id, bell.variants[0].id
        cust = _ok(
            await create_customer.asyncio_detailed(
                client=client, body=CreateCustomerRequest.from_dict({"name": "Ada"})
            ),
            "Customer",
        )
        so = _ok(
            await create_sales_order.asyncio_detailed(
                client=client,
                body=CreateSalesOrderRequest.from_dict(
                    {
                        "customer_id": cust.id,
                        "location_id": loc_id,
                        "sales_order_rows": [
                            {"variant_id": bike_v, "quantity": 2},
                            {"variant_id": bike_v, "quantity": 1},
                        ],
                    }
                ),
            ),
            "SalesOrder",
        )
        row_id, other_row = so.sales_order_rows[0].id, so.sales_order_rows[1].id

        mo = _ok(
            await make_to_order_manufacturing_order.asyncio_detailed(
                client=client,
                body=MakeToOrderManufacturingOrderRequest(sales_order_row_id=float(row_id)),
            ),
            "ManufacturingOrder",
        )
        assert mo.is_linked_to_sales_order is True and mo.sales_order_row_id == row_id
        assert mo.status.value == "NOT_STARTED"
        minted = _ok(
            await create_serial_numbers.asyncio_detailed(
                client=client,
                body=CreateSerialNumbersRequest.from_dict(
                    {
                        "resource_type": "ManufacturingOrder",
                        "resource_id": mo.id,
                        "serial_numbers": ["BK-001", "BK-002"],
                    }
                ),
            )
        )
        ids = [s.id for s in minted.successful]
        assert len(ids) == 2 and not minted.failed

        prod = _ok(
            await create_manufacturing_order_production.asyncio_detailed(
                client=client,
                body=CreateManufacturingOrderProductionRequest.from_dict(
                    {
                        "manufacturing_order_id": mo.id,
                        "completed_quantity": 2,
                        "serial_numbers": ids,
                    }
                ),
            ),
            "ManufacturingOrderProduction",
        )
        assert sorted(s.serial_number for s in prod.serial_numbers) == ["BK-001", "BK-002"]
        _ok(
            await get_manufacturing_order_production.asyncio_detailed(client=client, id=prod.id),
            "ManufacturingOrderProduction",
        )
        prods = _ok(
            await get_all_manufacturing_order_productions.asyncio_detailed(
                client=client, manufacturing_order_ids=[mo.id]
            )
        )
        assert [p.id for p in prods.data] == [prod.id]

        done = _ok(
            await get_manufacturing_order.asyncio_detailed(client=client, id=mo.id),
            "ManufacturingOrder",
        )
        assert done.status.value == "DONE"
        assert sorted(s.serial_number for s in done.serial_numbers) == ["BK-001", "BK-002"]
        row = _ok(
            await get_sales_order_row.asyncio_detailed(client=client, id=row_id), "SalesOrderRow"
        )
        assert sorted(t.serial_number_id for t in row.serial_number_transactions) == sorted(ids)

        linked = _ok(
            await get_all_manufacturing_orders.asyncio_detailed(
                client=client, is_linked_to_sales_order=True
            )
        )
        assert [m.id for m in linked.data] == [mo.id]

        plain = _ok(
            await create_manufacturing_order.asyncio_detailed(
                client=client,
                body=CreateManufacturingOrderRequest.from_dict(
                    {"variant_id": bike_v, "location_id": loc_id, "planned_quantity": 1}
                ),
            ),
            "ManufacturingOrder",
        )
        _ok(
            await create_manufacturing_order_recipe_rows.asyncio_detailed(
                client=client,
                body=CreateManufacturingOrderRecipeRowRequest.from_dict(
                    {
                        "manufacturing_order_id": plain.id,
                        "variant_id": bell_v,
                        "planned_quantity_per_unit": 1,
                    }
                ),
            ),
            "ManufacturingOrderRecipeRow",
        )
        rows = _ok(
            await get_all_manufacturing_order_recipe_rows.asyncio_detailed(
                client=client, manufacturing_order_id=plain.id
            )
        )
        assert [r.variant_id for r in rows.data] == [bell_v]

        mto2 = _ok(
            await make_to_order_manufacturing_order.asyncio_detailed(
                client=client,
                body=MakeToOrderManufacturingOrderRequest(sales_order_row_id=float(other_row)),
            ),
            "ManufacturingOrder",
        )
        unlinked = await unlink_manufacturing_order.asyncio_detailed(
            client=client, body=UnlinkManufacturingOrderRequest(sales_order_row_id=other_row)
        )
        assert unlinked.status_code == 204, unlinked.content
        after = _ok(await get_manufacturing_order.asyncio_detailed(client=client, id=mto2.id))
        assert after.is_linked_to_sales_order is False


def test_katana_client_creates_a_linked_mo_and_posts_a_production_with_serials():
    with live_server() as srv:
        r = httpx.post(
            f"{srv.base_url}/v1/locations",
            json={"name": "Main", "is_primary": True},
            headers={"Authorization": f"Bearer {srv.token}"},
        )
        assert r.status_code == 200, r.text
        aio.run(_scenario(srv.base_url, srv.token, r.json()["id"]))

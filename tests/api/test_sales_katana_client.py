"""The real katana-openapi-client against a live tracelot server: sales (issue 3, acceptance 7).

Creates a sales order, a PACKED and a DELIVERED fulfilment naming serial
numbers, assigns a serial through a row PATCH, and reads everything back;
every response must parse into the client's models.
"""

from __future__ import annotations

import httpx
import pytest
from katana_public_api_client import KatanaClient
from katana_public_api_client.api.customer import create_customer
from katana_public_api_client.api.sales_order import (
    create_sales_order,
    get_all_sales_orders,
    get_sales_order,
)
from katana_public_api_client.api.sales_order_fulfillment import (
    create_sales_order_fulfillment,
    get_all_sales_order_fulfillments,
    update_sales_order_fulfillment,
)
from katana_public_api_client.api.sales_order_row import (
    get_all_sales_order_rows,
    get_sales_order_row,
)
from katana_public_api_client.models import (
    CreateCustomerRequest,
    CreateSalesOrderFulfillmentRequest,
    CreateSalesOrderRequest,
    UpdateSalesOrderFulfillmentRequest,
)

from support import aio
from support.live_server import live_server


@pytest.fixture(scope="module")
def server():
    with live_server() as srv:
        yield srv


def _ok(response, model_name: str | None = None):  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    parsed = response.parsed
    assert parsed is not None, response.content
    if model_name:
        assert type(parsed).__name__ == model_name, type(parsed)
    return parsed


def _seed(base_url: str, token: str) -> tuple[int, dict[str, int]]:
    """Stock set up over plain HTTP (covered by the foundation's client test)."""
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{base_url}/v1", headers=h) as c:
        loc = c.post("/locations", json={"name": "Main", "is_primary": True}).json()["id"]
        prod = c.post(
            "/products",
            json={"name": "Grinder", "serial_tracked": True, "variants": [{"sku": "GR-1"}]},
        ).json()
        vid = prod["variants"][0]["id"]
        r = c.post(
            "/stock_adjustments",
            json={
                "location_id": loc,
                "stock_adjustment_rows": [
                    {"variant_id": vid, "quantity": 4, "serial_numbers": ["K-1..K-4"]}
                ],
            },
        )
        assert r.status_code == 200, r.text
        sn = {
            s["serial_number"]: s["id"]
            for s in c.get("/serial_numbers_stock", params={"limit": 50}).json()["data"]
        }
    return vid, sn


async def _scenario(base_url: str, token: str, vid: int, sn: dict[str, int]) -> None:
    async with KatanaClient(
        api_key=token, base_url=f"{base_url}/v1", max_retries=0, requests_per_minute=None
    ) as client:
        cust = _ok(
            await create_customer.asyncio_detailed(
                client=client, body=CreateCustomerRequest.from_dict({"name": "Ada"})
            )
        )
        so = _ok(
            await create_sales_order.asyncio_detailed(
                client=client,
                body=CreateSalesOrderRequest.from_dict(
                    {
                        "customer_id": cust.id,
                        "order_no": "SO-K1",
                        "sales_order_rows": [
                            {"variant_id": vid, "quantity": 3, "price_per_unit": 129.5}
                        ],
                    }
                ),
            ),
            "SalesOrder",
        )
        row_id = so.sales_order_rows[0].id
        packed = _ok(
            await create_sales_order_fulfillment.asyncio_detailed(
                client=client,
                body=CreateSalesOrderFulfillmentRequest.from_dict(
                    {
                        "sales_order_id": so.id,
                        "status": "PACKED",
                        "sales_order_fulfillment_rows": [
                            {
                                "sales_order_row_id": row_id,
                                "quantity": 2,
                                "serial_numbers": [sn["K-1"], sn["K-2"]],
                            }
                        ],
                    }
                ),
            ),
            "SalesOrderFulfillment",
        )
        assert sorted(packed.sales_order_fulfillment_rows[0].serial_numbers) == sorted(
            [sn["K-1"], sn["K-2"]]
        )
        delivered = _ok(
            await create_sales_order_fulfillment.asyncio_detailed(
                client=client,
                body=CreateSalesOrderFulfillmentRequest.from_dict(
                    {
                        "sales_order_id": so.id,
                        "status": "DELIVERED",
                        "sales_order_fulfillment_rows": [
                            {
                                "sales_order_row_id": row_id,
                                "quantity": 1,
                                "serial_numbers": [sn["K-3"]],
                            }
                        ],
                    }
                ),
            ),
            "SalesOrderFulfillment",
        )
        assert delivered.status.value == "DELIVERED"
        back = _ok(await get_sales_order.asyncio_detailed(client=client, id=so.id), "SalesOrder")
        assert back.status.value == "PACKED"  # fully covered, not all delivered
        assert sorted(back.sales_order_rows[0].serial_numbers) == sorted(
            [sn["K-1"], sn["K-2"], sn["K-3"]]
        )
        assert back.additional_properties["missing_serial_numbers"] == 0
        _ok(
            await update_sales_order_fulfillment.asyncio_detailed(
                client=client,
                id=packed.id,
                body=UpdateSalesOrderFulfillmentRequest.from_dict({"status": "DELIVERED"}),
            )
        )
        back = _ok(await get_sales_order.asyncio_detailed(client=client, id=so.id))
        assert back.status.value == "DELIVERED"
        listed = _ok(await get_all_sales_orders.asyncio_detailed(client=client))
        assert [o.id for o in listed.data] == [so.id]
        _ok(await get_all_sales_order_fulfillments.asyncio_detailed(client=client))
        row = _ok(await get_sales_order_row.asyncio_detailed(client=client, id=row_id))
        assert len(row.serial_number_transactions) == 3
        _ok(await get_all_sales_order_rows.asyncio_detailed(client=client))


def test_katana_client_creates_packs_delivers_and_reads_a_sales_order(server):
    vid, sn = _seed(server.base_url, server.token)
    aio.run(_scenario(server.base_url, server.token, vid, sn))

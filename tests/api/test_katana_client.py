"""The real Katana client (katana-openapi-client from PyPI) against a live tracelot server.

Issue 2, acceptance 6: products, variants, locations, batches, batch stocks,
serial numbers and stock adjustments are created and read back, and every
response parses into the client's models without error.
"""

from __future__ import annotations

import pytest
from katana_public_api_client import KatanaClient
from katana_public_api_client.api.batch import create_batch, get_batch_stock
from katana_public_api_client.api.inventory_movements import get_all_inventory_movements
from katana_public_api_client.api.location import get_all_locations, get_location
from katana_public_api_client.api.product import create_product, get_all_products, get_product
from katana_public_api_client.api.serial_number import (
    create_serial_numbers,
    get_all_serial_numbers,
    get_all_serial_numbers_stock,
)
from katana_public_api_client.api.stock_adjustment import (
    create_stock_adjustment,
    get_all_stock_adjustments,
)
from katana_public_api_client.api.variant import create_variant, get_all_variants, get_variant
from katana_public_api_client.models import (
    Batch,
    CreateProductRequest,
    CreateSerialNumbersRequest,
    CreateStockAdjustmentRequest,
    CreateVariantRequest,
)

from support import aio
from support.live_server import live_server


@pytest.fixture(scope="module")
def server():
    with live_server() as srv:
        import httpx

        r = httpx.post(
            f"{srv.base_url}/v1/locations",
            json={"name": "Main"},
            headers={"Authorization": f"Bearer {srv.token}"},
        )
        assert r.status_code == 200
        yield srv


def _ok(response, model_name: str | None = None):  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    parsed = response.parsed
    assert parsed is not None, response.content
    if model_name:
        assert type(parsed).__name__ == model_name, type(parsed)
    return parsed


async def _scenario(base_url: str, token: str) -> None:
    async with KatanaClient(
        api_key=token, base_url=f"{base_url}/v1", max_retries=0, requests_per_minute=None
    ) as client:
        locations = _ok(await get_all_locations.asyncio_detailed(client=client))
        loc_id = locations.data[0].id
        _ok(await get_location.asyncio_detailed(client=client, id=loc_id), "Location")

        serial = _ok(
            await create_product.asyncio_detailed(
                client=client,
                body=CreateProductRequest.from_dict(
                    {"name": "Grinder", "serial_tracked": True, "variants": [{"sku": "GR-1"}]}
                ),
            ),
            "Product",
        )
        batch_item = _ok(
            await create_product.asyncio_detailed(
                client=client,
                body=CreateProductRequest.from_dict(
                    {"name": "Beans", "batch_tracked": True, "variants": [{"sku": "BN-1"}]}
                ),
            ),
            "Product",
        )
        assert serial.serial_tracked is True and batch_item.batch_tracked is True
        extra = _ok(
            await create_variant.asyncio_detailed(
                client=client,
                body=CreateVariantRequest.from_dict(
                    {"product_id": batch_item.id, "sku": "BN-2", "sales_price": 12.5}
                ),
            )
        )
        _ok(await get_variant.asyncio_detailed(client=client, id=extra.id))
        variants = _ok(await get_all_variants.asyncio_detailed(client=client))
        assert {v.sku for v in variants.data} >= {"GR-1", "BN-1", "BN-2"}
        _ok(await get_product.asyncio_detailed(client=client, id=serial.id), "Product")
        _ok(await get_all_products.asyncio_detailed(client=client))

        bean_variant = batch_item.variants[0].id
        batch = _ok(
            await create_batch.asyncio_detailed(
                client=client,
                body=Batch.from_dict(
                    {
                        "batch_number": "LOT-1",
                        "variant_id": bean_variant,
                        "expiration_date": "2027-06-30T00:00:00.000Z",
                    }
                ),
            )
        )
        grinder_variant = serial.variants[0].id
        adjustment = _ok(
            await create_stock_adjustment.asyncio_detailed(
                client=client,
                body=CreateStockAdjustmentRequest.from_dict(
                    {
                        "location_id": loc_id,
                        "stock_adjustment_rows": [
                            {
                                "variant_id": bean_variant,
                                "quantity": 10,
                                "batch_transactions": [{"batch_id": batch.id, "quantity": 10}],
                            },
                            {"variant_id": grinder_variant, "quantity": 2},
                        ],
                    }
                ),
            )
        )
        serial_row = next(
            r for r in adjustment.stock_adjustment_rows if r.variant_id == grinder_variant
        )
        links = _ok(
            await create_serial_numbers.asyncio_detailed(
                client=client,
                body=CreateSerialNumbersRequest.from_dict(
                    {
                        "resource_id": serial_row.id,
                        "resource_type": "StockAdjustmentRow",
                        "serial_numbers": ["GR-0001", "GR-0002"],
                    }
                ),
            )
        )
        assert len(links.successful) == 2 and links.failed == []

        stocks = _ok(await get_batch_stock.asyncio_detailed(client=client))
        (stock,) = stocks.data
        assert stock.batch_number == "LOT-1" and stock.quantity_in_stock == "10"
        listed = _ok(await get_all_serial_numbers.asyncio_detailed(client=client))
        assert {s.serial_number for s in listed.data} == {"GR-0001", "GR-0002"}
        in_stock = _ok(await get_all_serial_numbers_stock.asyncio_detailed(client=client))
        assert all(s.in_stock for s in in_stock.data) and len(in_stock.data) == 2
        _ok(await get_all_stock_adjustments.asyncio_detailed(client=client))
        moves = _ok(await get_all_inventory_movements.asyncio_detailed(client=client))
        assert len(moves.data) == 2


def test_the_katana_client_creates_and_reads_the_stock_objects(server):
    aio.run(_scenario(server.base_url, server.token))

"""Request bodies shared by routers. Unknown keys are ignored, as Katana does."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Id = Annotated[int, Field(ge=1)]


def _to_date(value: object) -> object:
    """Katana sends expiry as a date-time; a batch expires on a day."""
    if isinstance(value, str) and len(value) > 10 and value[4] == "-":
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    if isinstance(value, datetime):
        return value.date()
    return value


Day = Annotated[date, BeforeValidator(_to_date)]


class In(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def sent(self) -> dict[str, object]:
        """Only the keys the caller sent (PATCH semantics), nested models as dicts."""
        return self.model_dump(exclude_unset=True)


class VariantIn(In):
    sku: str | None = Field(default=None, max_length=128)
    sales_price: Decimal | None = None
    purchase_price: Decimal | None = None
    internal_barcode: str | None = None
    registered_barcode: str | None = None
    gtin: str | None = Field(default=None, pattern=r"^\d{8,14}$")
    supplier_item_codes: list[str] | str | None = None


class VariantCreate(VariantIn):
    product_id: Id | None = None
    material_id: Id | None = None


class ItemCreate(In):
    name: Name
    variants: list[VariantIn] = Field(default_factory=lambda: [VariantIn()])
    uom: str | None = "pcs"
    category_name: str | None = None
    is_sellable: bool | None = None
    is_producible: bool | None = None
    is_purchasable: bool | None = None
    batch_tracked: bool | None = None
    serial_tracked: bool | None = None
    tracking: Literal["none", "batch", "serial"] | None = None
    serial_pattern: str | None = Field(default=None, max_length=64)
    additional_info: str | None = None


class ItemUpdate(In):
    name: Name | None = None
    uom: str | None = None
    category_name: str | None = None
    is_sellable: bool | None = None
    is_producible: bool | None = None
    is_purchasable: bool | None = None
    is_archived: bool | None = None
    batch_tracked: bool | None = None
    serial_tracked: bool | None = None
    tracking: Literal["none", "batch", "serial"] | None = None
    confirm_remove_tracking: bool | None = None
    serial_pattern: str | None = Field(default=None, max_length=64)
    additional_info: str | None = None


class LocationIn(In):
    name: Name | None = None
    legal_name: str | None = None
    is_primary: bool | None = None
    sales_allowed: bool | None = None
    purchase_allowed: bool | None = None
    manufacturing_allowed: bool | None = None
    line_1: str | None = None
    line_2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    phone: str | None = None
    gln: str | None = Field(default=None, pattern=r"^\d{13}$")


class AddressIn(In):
    entity_type: Literal["billing", "shipping"] = "shipping"
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    line_1: str | None = None
    line_2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    gln: str | None = Field(default=None, pattern=r"^\d{13}$")


class CustomerIn(In):
    name: Name | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    currency: str | None = None
    reference_id: str | None = None
    comment: str | None = None
    addresses: list[AddressIn] | None = None


class SupplierIn(In):
    name: Name | None = None
    email: str | None = None
    phone: str | None = None
    currency: str | None = None
    comment: str | None = None
    line_1: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    gln: str | None = Field(default=None, pattern=r"^\d{13}$")


class BatchCreate(In):
    batch_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ]
    variant_id: Id
    expiration_date: Day | None = None
    batch_created_date: datetime | None = None
    batch_barcode: str | None = Field(default=None, max_length=40)
    supplier_lot: str | None = Field(default=None, max_length=64)


class BatchUpdate(In):
    batch_number: str | None = Field(default=None, min_length=1, max_length=64)
    expiration_date: Day | None = None
    batch_created_date: datetime | None = None
    batch_barcode: str | None = Field(default=None, max_length=40)
    supplier_lot: str | None = Field(default=None, max_length=64)


class BatchTransactionIn(In):
    batch_id: Id | None = None
    quantity: Decimal


class TraceabilityIn(In):
    batch_id: Id | None = None
    serial_number_id: Id | None = None
    bin_location_id: int | None = None
    quantity: Decimal | None = None

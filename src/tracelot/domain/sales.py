"""Sales rules as plain Python: the delivery status machine and row tracing.

A sales order's status is never set by hand beyond NOT_SHIPPED/PENDING: it
follows from what its fulfilments cover (KATANA_API.md, Sales). A tracked
row's tracing state compares what it needs (its quantity) with what is
assigned to it (serials held, batch quantity picked), and Katana's
``missing_serial_numbers`` counts shipped units without a serial.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tracelot.domain import errors

OPEN_STATUSES = ("NOT_SHIPPED", "PENDING")
FULFILMENT_STATUSES = ("PACKED", "DELIVERED")


@dataclass(frozen=True)
class RowShipping:
    """How much of a row its live fulfilments cover, by fulfilment status."""

    quantity: Decimal
    packed: Decimal = Decimal(0)
    delivered: Decimal = Decimal(0)

    @property
    def shipped(self) -> Decimal:
        return self.packed + self.delivered

    @property
    def all_delivered(self) -> bool:
        """The whole row is shipped and all of it delivered: it is closed to changes.

        A partly delivered row stays open: what is still to ship can be assigned.
        """
        return self.delivered > 0 and self.packed == 0 and self.shipped >= self.quantity


def order_status(rows: Iterable[RowShipping], base: str = "NOT_SHIPPED") -> str:
    """NOT_SHIPPED/PENDING, PARTIALLY_PACKED, PACKED, PARTIALLY_DELIVERED or DELIVERED."""
    rows = list(rows)
    if not rows or all(r.shipped == 0 for r in rows):
        return base if base in OPEN_STATUSES else "NOT_SHIPPED"
    covered = all(r.shipped >= r.quantity for r in rows)
    any_delivered = any(r.delivered > 0 for r in rows)
    if covered:
        return "DELIVERED" if all(r.packed == 0 for r in rows) else "PACKED"
    return "PARTIALLY_DELIVERED" if any_delivered else "PARTIALLY_PACKED"


@dataclass(frozen=True)
class RowTracing:
    required: Decimal
    assigned: Decimal
    missing_serial_numbers: int
    tracing_status: str  # not_required | missing | complete


def row_tracing(
    tracking: str, quantity: Decimal, assigned: Decimal, shipped: Decimal, shipped_serials: int
) -> RowTracing:
    """Required vs assigned for a tracked row; untracked rows need nothing."""
    if tracking not in ("serial", "batch"):
        return RowTracing(Decimal(0), Decimal(0), 0, "not_required")
    missing = max(0, int(shipped) - shipped_serials) if tracking == "serial" else 0
    status = "complete" if assigned >= quantity and missing == 0 else "missing"
    return RowTracing(quantity, assigned, missing, status)


def order_tracing(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    if "missing" in statuses:
        return "missing"
    return "complete" if "complete" in statuses else "not_required"


def check_quantity(quantity: Decimal, tracking: str, path: str) -> Decimal:
    """A row needs a positive quantity; serial rows count whole units."""
    if quantity <= 0:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Quantity {quantity} is not allowed: a sales order row needs a quantity above 0.",
            path=path,
        )
    if tracking == "serial" and quantity != quantity.to_integral_value():
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "Serial-tracked items are sold in whole units: send a whole quantity.",
            path=path,
        )
    return quantity


def check_open(ship: RowShipping, order_no: str, path: str = "sales_order_row_id") -> None:
    """A row delivered in full refuses changes: revert first."""
    if ship.all_delivered:
        raise errors.refuse(
            errors.ORDER_DELIVERED,
            f"Sales order {order_no} is delivered: "
            "revert it first (POST /sales_orders/{id}/revert, or "
            "/revert_assign_deliver to do all in one step).",
            path=path,
        )


def check_ship(ship: RowShipping, quantity: Decimal, path: str) -> None:
    left = ship.quantity - ship.shipped
    if quantity <= 0:
        raise errors.refuse(
            errors.VALIDATION_FAILED, "A fulfilment row needs a quantity above 0.", path=path
        )
    if quantity > left:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"Only {left} of the row is left to ship; cannot ship {quantity}. Ship at most {left}.",
            path=path,
        )

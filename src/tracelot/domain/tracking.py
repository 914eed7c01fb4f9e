"""Tracking modes and the rules for changing them (SPEC §1).

The decision is pure: given the current mode, the wanted mode, whether the
item has stock or tracking records and whether removal was confirmed, it says
what the service must do. The service carries the plan out in SQL.
"""

from __future__ import annotations

from enum import StrEnum

from tracelot.domain import errors

UNBATCHED = "unbatched"  # what GET /batch_stocks calls a batch item's stock without a batch


def batch_number_problem(number: str) -> str | None:
    """Why ``number`` cannot name a real batch, or None when it can."""
    if number.strip().casefold() == UNBATCHED:
        return (
            f"Batch number '{number}' is reserved: stock without a batch is listed as "
            f"'{UNBATCHED}' (e.g. after turning batch tracking on), so a real batch "
            "cannot be called that in any case. Choose another batch number."
        )
    return None


class Tracking(StrEnum):
    NONE = "none"
    BATCH = "batch"
    SERIAL = "serial"


class TrackingChange(StrEnum):
    """What a change of tracking obliges the service to do."""

    NOTHING = "nothing"
    UNBATCH_STOCK = "unbatch_stock"  # none -> batch: existing stock becomes 'unbatched'
    REPORT_SERIAL_GAP = "report_serial_gap"  # none -> serial: stock waits for serials
    ARCHIVE_AND_REMOVE = "archive_and_remove"  # tracked -> none, confirmed


def from_flags(
    batch_tracked: bool | None, serial_tracked: bool | None, current: Tracking
) -> Tracking:
    """Read Katana's two booleans as one mode; unsent flags keep the current mode."""
    if batch_tracked and serial_tracked:
        raise errors.refuse(
            errors.TRACKING_CONFLICT,
            "An item is either batch-tracked or serial-tracked, not both: "
            "send only one of batch_tracked and serial_tracked as true.",
            path="batch_tracked",
        )
    if batch_tracked:
        return Tracking.BATCH
    if serial_tracked:
        return Tracking.SERIAL
    batch_off = batch_tracked is False and current is Tracking.BATCH
    serial_off = serial_tracked is False and current is Tracking.SERIAL
    if batch_off or serial_off:
        return Tracking.NONE
    return current


def plan_change(
    current: Tracking,
    wanted: Tracking,
    *,
    has_stock: bool,
    has_records: bool,
    confirmed: bool,
    item_name: str,
) -> TrackingChange:
    """Decide what changing ``current`` to ``wanted`` means, or refuse it."""
    if current is wanted:
        return TrackingChange.NOTHING
    if {current, wanted} == {Tracking.BATCH, Tracking.SERIAL}:
        raise errors.refuse(
            errors.TRACKING_SWITCH_REFUSED,
            f"'{item_name}' cannot switch from {current} tracking to {wanted} tracking "
            "directly. Two ways out: set its tracking to none first (its tracking records "
            "are archived as CSV, then removed), then to "
            f"{wanted}; or create a new item that is {wanted}-tracked.",
            path=f"{wanted}_tracked",
            current=str(current),
            wanted=str(wanted),
        )
    if wanted is Tracking.NONE:
        if has_records and not confirmed:
            raise errors.refuse(
                errors.CONFIRMATION_REQUIRED,
                f"Turning off {current} tracking of '{item_name}' removes its {current} "
                "records. A CSV archive is written first; send "
                "confirm_remove_tracking: true to go ahead.",
                path="confirm_remove_tracking",
            )
        return TrackingChange.ARCHIVE_AND_REMOVE if has_records else TrackingChange.NOTHING
    if not has_stock:
        return TrackingChange.NOTHING
    if wanted is Tracking.BATCH:
        return TrackingChange.UNBATCH_STOCK
    return TrackingChange.REPORT_SERIAL_GAP

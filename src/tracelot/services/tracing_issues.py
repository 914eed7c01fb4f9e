"""Tracing issues: one list of everything about tracking that needs someone's attention.

Each kind is one set-based SELECT served by an index over live data only
(orders by ``ix_sales_orders_tracing``, stock on hand by the partial
``ix_stock_on_hand``, held serials by the partial ``ix_serials_on_hold``);
the kinds are one UNION ALL so the list pages in the database like any other.
Names, messages and links are then added for the one page being answered, in
a few queries whatever the page size.

Kinds, most urgent first: expired batches with stock, batches and serials on
hold with stock, orders that shipped units without serials, serial-tracked
stock not connected to serials, batches expiring soon.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Numeric,
    String,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from tracelot.db.models import (
    Batch,
    Customer,
    Item,
    Location,
    SalesOrder,
    SalesOrderRow,
    Serial,
    Stock,
    Variant,
)
from tracelot.db.sql import AnySelect
from tracelot.services import ledger

KINDS = (
    "batch_expired",
    "batch_on_hold",
    "serials_on_hold",
    "missing_serials",
    "serials_not_connected",
    "batch_expiring",
)
RANK = {k: i for i, k in enumerate(KINDS)}
MAX_IDS = 100  # serial ids listed per entry; the link lists them all


def query(kinds: list[str] | None = None, expiring_within_days: int = 30) -> AnySelect:
    """Every issue as (kind, rank, ref_id, variant_id, location_id, quantity, day, note)."""
    wanted = set(kinds or KINDS)
    parts = [
        q
        for kind, q in (
            ("missing_serials", _orders()),
            ("serials_not_connected", _not_connected()),
            ("serials_on_hold", _held_serials()),
        )
        if kind in wanted
    ]
    if wanted & {"batch_expired", "batch_expiring", "batch_on_hold"}:
        parts += _batches(wanted, date.today(), expiring_within_days)
    u = union_all(*parts).subquery("issues") if len(parts) > 1 else parts[0].subquery("issues")
    return select(u).order_by(u.c.rank, u.c.day, u.c.ref_id.desc())


def _cols(
    kind: Any,
    ref_id: Any,
    variant_id: Any = None,
    location_id: Any = None,
    quantity: Any = None,
    day: Any = None,
    note: Any = None,
) -> list[Any]:
    """The union's columns; ``kind`` is a kind name or (kind, rank) SQL expressions."""
    kind_sql, rank = (literal(kind), literal(RANK[kind])) if isinstance(kind, str) else kind
    return [
        cast(kind_sql, String(32)).label("kind"),
        cast(rank, Integer).label("rank"),
        _typed(ref_id, Integer).label("ref_id"),
        _typed(variant_id, Integer).label("variant_id"),
        _typed(location_id, Integer).label("location_id"),
        _typed(quantity, Numeric(18, 6)).label("quantity"),
        _typed(day, Date).label("day"),
        _typed(note, String(255)).label("note"),
    ]


def _typed(value: Any, type_: Any) -> Any:
    """A typed NULL where a kind has no value (PostgreSQL needs it for the UNION); real
    columns keep their own type (SQLite's CAST AS DATE would turn a date into a number)."""
    return cast(null(), type_) if value is None else type_coerce(value, type_)


def _orders() -> AnySelect:
    """Orders that shipped serial-tracked units without their serials (SPEC §3 warning)."""
    return select(
        *_cols("missing_serials", SalesOrder.id, quantity=SalesOrder.missing_serial_numbers)
    ).where(
        SalesOrder.tracing_status == "missing",
        SalesOrder.missing_serial_numbers > 0,
        SalesOrder.deleted_at.is_(None),
    )


def _not_connected() -> AnySelect:
    """Serial-tracked stock on hand with fewer serials than units (SPEC §1 none -> serial)."""
    serials = (
        select(func.count())
        .where(
            Serial.variant_id == Stock.variant_id,
            Serial.location_id == Stock.location_id,
            Serial.status.in_(ledger.ON_HAND),
        )
        .scalar_subquery()
    )
    return (
        select(
            *_cols(
                "serials_not_connected",
                Stock.id,
                Stock.variant_id,
                Stock.location_id,
                Stock.quantity - serials,
            )
        )
        .join(Variant, Variant.id == Stock.variant_id)
        .join(Item, Item.id == Variant.item_id)
        .where(Stock.quantity > 0, Item.tracking == "serial", Stock.quantity > serials)
    )


def _held_serials() -> AnySelect:
    """Serials on hold that are still on hand, one entry per product and hold reason."""
    return (
        select(
            *_cols(
                "serials_on_hold",
                func.min(Serial.id),
                Serial.variant_id,
                quantity=func.count(),
                note=Serial.hold_reason,
            )
        )
        .where(Serial.hold_reason.is_not(None), Serial.status.in_(ledger.ON_HAND))
        .group_by(Serial.variant_id, Serial.hold_reason)
    )


def _batches(wanted: set[str], today: date, days: int) -> list[AnySelect]:
    """Batches with stock on hand: expired, expiring within ``days``, or on hold."""
    on_hand = (
        select(Stock.batch_id, func.sum(Stock.quantity).label("q"))
        .where(Stock.quantity > 0, Stock.batch_id.is_not(None))
        .group_by(Stock.batch_id)
        .subquery()
    )
    parts = []
    expiry = []
    if "batch_expired" in wanted:
        expiry.append(Batch.expiration_date < today)
    if "batch_expiring" in wanted:
        expiry.append(Batch.expiration_date.between(today, today + timedelta(days=days)))
    if expiry:
        expired = Batch.expiration_date < today
        kind = (
            case((expired, "batch_expired"), else_="batch_expiring"),
            case((expired, RANK["batch_expired"]), else_=RANK["batch_expiring"]),
        )
        parts.append(
            select(
                *_cols(kind, Batch.id, Batch.variant_id, None, on_hand.c.q, Batch.expiration_date)
            )
            .join(on_hand, on_hand.c.batch_id == Batch.id)
            .where(Batch.expiration_date.is_not(None), or_(*expiry))
        )
    if "batch_on_hold" in wanted:
        parts.append(
            select(
                *_cols(
                    "batch_on_hold",
                    Batch.id,
                    Batch.variant_id,
                    None,
                    on_hand.c.q,
                    Batch.expiration_date,
                    Batch.hold_reason,
                )
            )
            .join(on_hand, on_hand.c.batch_id == Batch.id)
            .where(Batch.hold_reason.is_not(None))
        )
    return parts


# --- one page, described ------------------------------------------------------------------


def describe(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
    """Messages, counts, ids and links for one page of issue rows (a few queries)."""
    names = _Names(session, rows)
    return [_ENTRY[r.kind](r, names) for r in rows]


class _Names:
    def __init__(self, session: Session, rows: list[Any]) -> None:
        by_kind: dict[str, list[Any]] = defaultdict(list)
        for r in rows:
            by_kind[r.kind].append(r)
        vids = {r.variant_id for r in rows if r.variant_id}
        self.variants = {
            v.id: v
            for v in session.execute(
                select(Variant.id, Variant.sku, Variant.item_id, Item.name)
                .join(Item, Item.id == Variant.item_id)
                .where(Variant.id.in_(vids))
            )
        }
        lids = {r.location_id for r in rows if r.location_id}
        self.locations = dict(
            session.execute(select(Location.id, Location.name).where(Location.id.in_(lids))).all()
        )
        self.orders = self._orders(session, [r.ref_id for r in by_kind["missing_serials"]])
        self.batches = self._batches(
            session,
            [
                r.ref_id
                for k in ("batch_expired", "batch_expiring", "batch_on_hold")
                for r in by_kind[k]
            ],
        )
        self.held = self._held(session, by_kind["serials_on_hold"])

    def product(self, variant_id: int | None) -> str:
        v = self.variants.get(variant_id or 0)
        if v is None:
            return f"variant {variant_id}"
        return f"{v.name} ({v.sku})" if v.sku else v.name

    def item_id(self, variant_id: int | None) -> int | None:
        v = self.variants.get(variant_id or 0)
        return v.item_id if v else None

    @staticmethod
    def _orders(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        out = {
            o.id: {"order_no": o.order_no, "status": o.status, "customer": o.name, "rows": []}
            for o in session.execute(
                select(SalesOrder.id, SalesOrder.order_no, SalesOrder.status, Customer.name)
                .join(Customer, Customer.id == SalesOrder.customer_id)
                .where(SalesOrder.id.in_(ids))
            )
        }
        for r in session.execute(
            select(
                SalesOrderRow.id, SalesOrderRow.sales_order_id, SalesOrderRow.missing_serial_numbers
            )
            .where(
                SalesOrderRow.sales_order_id.in_(ids),
                SalesOrderRow.missing_serial_numbers > 0,
                SalesOrderRow.deleted_at.is_(None),
            )
            .order_by(SalesOrderRow.id)
        ):
            out[r.sales_order_id]["rows"].append(
                {"sales_order_row_id": r.id, "missing_serial_numbers": r.missing_serial_numbers}
            )
        return out

    @staticmethod
    def _batches(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        out = {
            b.id: {"batch_number": b.batch_number, "locations": []}
            for b in session.execute(select(Batch.id, Batch.batch_number).where(Batch.id.in_(ids)))
        }
        for s in session.execute(
            select(Stock.batch_id, Stock.location_id, Location.name, Stock.quantity)
            .join(Location, Location.id == Stock.location_id)
            .where(Stock.batch_id.in_(ids), Stock.quantity > 0)
            .order_by(Stock.batch_id, Location.name)
        ):
            out[s.batch_id]["locations"].append(
                {"location_id": s.location_id, "location": s.name, "quantity": s.quantity}
            )
        return out

    @staticmethod
    def _held(session: Session, rows: list[Any]) -> dict[tuple[int, str], list[Any]]:
        out: dict[tuple[int, str], list[Any]] = defaultdict(list)
        if not rows:
            return out
        for s in session.execute(
            select(Serial.id, Serial.serial_number, Serial.variant_id, Serial.hold_reason)
            .where(
                Serial.variant_id.in_({r.variant_id for r in rows}),
                Serial.hold_reason.in_({r.note for r in rows}),
                Serial.status.in_(ledger.ON_HAND),
            )
            .order_by(Serial.serial_number)
        ):
            out[(s.variant_id, s.hold_reason)].append(s)
        return out


def _n(q: Any) -> Decimal:
    return Decimal(q or 0).normalize()


def _missing_serials(r: Any, names: _Names) -> dict[str, Any]:
    o = names.orders.get(r.ref_id, {"order_no": str(r.ref_id), "rows": []})
    n = int(r.quantity)
    return {
        "kind": r.kind,
        "message": (
            f"{o['order_no']} ({o.get('customer')}) shipped {n} unit(s) without serial "
            "numbers: assign the serials on its rows (a delivered order is reverted, "
            "assigned and delivered again in one step)."
        ),
        "counts": {"missing_serial_numbers": n},
        "ids": {
            "sales_order_id": r.ref_id,
            "sales_order_row_ids": [x["sales_order_row_id"] for x in o["rows"]],
        },
        "rows": o["rows"],
        "links": {"api": f"/v1/sales_orders/{r.ref_id}", "web": f"/sell/{r.ref_id}"},
    }


def _not_connected_entry(r: Any, names: _Names) -> dict[str, Any]:
    item = names.item_id(r.variant_id)
    where = names.locations.get(r.location_id, f"location {r.location_id}")
    n = _n(r.quantity)
    return {
        "kind": r.kind,
        "message": (
            f"{n:f} unit(s) of {names.product(r.variant_id)} at {where} are not connected "
            "to serial numbers: connect serials with a stock adjustment or a serial import."
        ),
        "counts": {"missing_serial_numbers": n},
        "ids": {"item_id": item, "variant_id": r.variant_id, "location_id": r.location_id},
        "links": {"api": f"/v1/serial_gaps?item_id={item}", "web": f"/items/{item}"},
    }


def _batch_entry(r: Any, names: _Names) -> dict[str, Any]:
    b = names.batches.get(r.ref_id, {"batch_number": str(r.ref_id), "locations": []})
    what = f"Batch '{b['batch_number']}' of {names.product(r.variant_id)}"
    n = _n(r.quantity)
    if r.kind == "batch_on_hold":
        msg = (
            f"{what} is on hold ({r.note}) with {n:f} in stock: release the hold when "
            "cleared, or scrap the stock with a stock adjustment."
        )
    elif r.kind == "batch_expired":
        msg = (
            f"{what} expired on {r.day.isoformat()} and {n:f} are still in stock: "
            "scrap them with a stock adjustment (pickers never propose them)."
        )
    else:
        days = (r.day - date.today()).days
        msg = (
            f"{what} expires on {r.day.isoformat()} (in {days} day(s)) with {n:f} in "
            "stock: use it first."
        )
    return {
        "kind": r.kind,
        "message": msg,
        "counts": {"quantity_in_stock": n},
        "ids": {
            "batch_id": r.ref_id,
            "variant_id": r.variant_id,
            "location_ids": [x["location_id"] for x in b["locations"]],
        },
        "expiration_date": r.day,
        "hold_reason": r.note,
        "locations": b["locations"],
        "links": {
            "api": f"/v1/batch_stocks?batch_id={r.ref_id}",
            "web": f"/stock/batches/{r.ref_id}",
        },
    }


def _held_serials_entry(r: Any, names: _Names) -> dict[str, Any]:
    held = names.held.get((r.variant_id, r.note), [])
    n = int(r.quantity)
    first = held[0] if held else None
    sample = ", ".join(s.serial_number for s in held[:5]) + (", ..." if n > 5 else "")
    return {
        "kind": r.kind,
        "message": (
            f"{n} serial(s) of {names.product(r.variant_id)} on hold ({r.note}) are in stock "
            f"({sample}): release each hold when cleared, or scrap them."
        ),
        "counts": {"serial_numbers": n},
        "ids": {"variant_id": r.variant_id, "serial_number_ids": [s.id for s in held[:MAX_IDS]]},
        "hold_reason": r.note,
        "links": {
            "api": f"/v1/serial_numbers_stock?variant_id={r.variant_id}",
            "web": f"/stock/serials/{first.id}"
            if n == 1 and first
            else f"/items/{names.item_id(r.variant_id)}",
        },
    }


_ENTRY = {
    "missing_serials": _missing_serials,
    "serials_not_connected": _not_connected_entry,
    "batch_expired": _batch_entry,
    "batch_expiring": _batch_entry,
    "batch_on_hold": _batch_entry,
    "serials_on_hold": _held_serials_entry,
}

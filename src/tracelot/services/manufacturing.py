"""Recipes, manufacturing orders and productions (SPEC §4), with genealogy.

A production is one use case: it consumes every recipe row's
``planned_quantity_per_unit × completed_quantity`` (batches from the row's
picks then first-expired-first-out; serials named), puts the output into a
batch or into serials (minted on the MO, entered, or generated from the item's
pattern), writes one genealogy row per (output, input) pair, and, for a
make-to-order MO, assigns the output to the linked sales row. Deleting a
production reverses all of that with new movements while the output is still
in stock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import (
    Batch,
    BatchPick,
    Genealogy,
    Location,
    ManufacturingOrder,
    ManufacturingOrderRecipeRow,
    Movement,
    Production,
    ProductionIngredient,
    RecipeRow,
    Serial,
    SerialTransaction,
    Stock,
    Variant,
)
from tracelot.domain import errors
from tracelot.domain import manufacturing as rules
from tracelot.services import batches, ledger, numbering, serials
from tracelot.services.common import apply, get

MO = "ManufacturingOrder"
PRODUCTION = "Production"
INGREDIENT = "ProductionIngredient"
RECIPE_ROW = "ManufacturingOrderRecipeRow"
MO_FIELDS = {"order_no", "production_deadline_date", "additional_info", "order_created_date"}


# -- recipes (bill of materials per product variant) ---------------------------------------


def save_recipe_row(session: Session, row: RecipeRow | None, data: dict[str, Any]) -> RecipeRow:
    """Create or change one ingredient line of a product variant's recipe."""
    if row is None:
        product = get(
            session, Variant, data.get("product_variant_id"), "Variant", path="product_variant_id"
        )
        ingredient = get(
            session,
            Variant,
            data.get("ingredient_variant_id"),
            "Variant",
            path="ingredient_variant_id",
        )
        if product.id == ingredient.id:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                "A product cannot be an ingredient of itself.",
                path="ingredient_variant_id",
            )
        if session.scalar(
            select(RecipeRow.id).where(
                RecipeRow.product_variant_id == product.id,
                RecipeRow.ingredient_variant_id == ingredient.id,
            )
        ):
            raise errors.refuse(
                errors.DUPLICATE,
                f"{ingredient.sku} is already in the recipe "
                f"of {product.sku}: change that row's quantity instead.",
                path="ingredient_variant_id",
            )
        row = RecipeRow(
            product_variant_id=product.id, ingredient_variant_id=ingredient.id, quantity=Decimal(0)
        )
        session.add(row)
    apply(row, data, {"quantity", "notes", "rank"})
    if row.quantity is None or Decimal(str(row.quantity)) <= 0:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "A recipe row needs a quantity above 0 per unit of the product.",
            path="quantity",
        )
    session.flush()
    return row


def recipe_of(session: Session, variant_id: int) -> list[RecipeRow]:
    return list(
        session.scalars(
            select(RecipeRow)
            .where(RecipeRow.product_variant_id == variant_id)
            .order_by(RecipeRow.rank, RecipeRow.id)
        )
    )


# -- manufacturing orders ------------------------------------------------------------------


def create_order(session: Session, data: dict[str, Any], actor: str) -> ManufacturingOrder:
    """An MO for a variant; its recipe rows are copied from the variant's recipe."""
    variant = get(session, Variant, data.get("variant_id"), "Variant", path="variant_id")
    loc = get(session, Location, data.get("location_id"), "Location", path="location_id")
    planned = _positive(data.get("planned_quantity"), "planned_quantity")
    _whole_if_serial(variant, planned, "planned_quantity")
    mo = ManufacturingOrder(
        variant_id=variant.id,
        location_id=loc.id,
        planned_quantity=planned,
        order_no="",
        order_created_date=utcnow(),
        status="NOT_STARTED",
    )
    apply(mo, {k: v for k, v in data.items() if v is not None}, MO_FIELDS)
    session.add(mo)
    session.flush()
    mo.order_no = mo.order_no or f"MO-{mo.id}"
    for r in recipe_of(session, variant.id):
        session.add(
            ManufacturingOrderRecipeRow(
                manufacturing_order_id=mo.id,
                variant_id=r.ingredient_variant_id,
                planned_quantity_per_unit=r.quantity,
                notes=r.notes,
            )
        )
    _set_output_picks(session, mo, data.get("batch_transactions") or [])
    session.flush()
    refresh_status(session, mo)
    return mo


def _set_output_picks(
    session: Session, mo: ManufacturingOrder, picks: list[dict[str, Any]]
) -> None:
    """MO batch_transactions: the batch its output goes into by default."""
    for i, p in enumerate(picks):
        b = batches.of_variant(
            session, int(p["batch_id"]), mo.variant_id, f"batch_transactions[{i}].batch_id"
        )
        session.add(
            BatchPick(
                resource_type=MO,
                resource_id=mo.id,
                batch_id=b.id,
                quantity=Decimal(str(p.get("quantity") or mo.planned_quantity)),
            )
        )


def update_order(
    session: Session, mo: ManufacturingOrder, data: dict[str, Any]
) -> ManufacturingOrder:
    """Header fields; the planned quantity only while nothing was produced past it."""
    lock(session, mo)
    apply(mo, data, MO_FIELDS)
    if data.get("planned_quantity") is not None:
        planned = _positive(data["planned_quantity"], "planned_quantity")
        if planned < mo.completed_quantity:
            raise errors.refuse(
                errors.VALIDATION_FAILED,
                f"{mo.order_no} has produced "
                f"{_fmt(mo.completed_quantity)} already; plan at least that.",
                path="planned_quantity",
            )
        mo.planned_quantity = planned
    if data.get("status") in ("IN_PROGRESS", "NOT_STARTED") and mo.status in (
        "NOT_STARTED",
        "BLOCKED",
        "IN_PROGRESS",
    ):
        mo.status = data["status"]
    elif data.get("status") and data["status"] != mo.status:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Status {data['status']} comes from "
            "productions; only NOT_STARTED and IN_PROGRESS can be set.",
            path="status",
        )
    mo.updated_at = utcnow()
    session.flush()
    refresh_status(session, mo)
    return mo


def delete_order(session: Session, mo: ManufacturingOrder) -> None:
    """Only an MO without productions; serials minted on it are dropped."""
    lock(session, mo)
    if active_productions(session, mo.id):
        raise errors.refuse(
            errors.IN_USE, f"{mo.order_no} has productions: delete them first.", path="id"
        )
    if mo.sales_order_row_id:
        raise errors.refuse(
            errors.ALREADY_LINKED,
            f"{mo.order_no} is linked to sales order row {mo.sales_order_row_id}: unlink it first.",
            path="id",
        )
    serials.drop_minted(session, MO, mo.id, [s.id for s in minted_serials(session, mo.id)])
    mo.deleted_at = utcnow()


def sync_linked_quantity(session: Session, mo_id: int, quantity: Decimal) -> None:
    """A make-to-order row's quantity changed: follow it while the MO has not started."""
    mo = lock(session, get(session, ManufacturingOrder, mo_id))
    if mo.status in ("NOT_STARTED", "BLOCKED") and mo.completed_quantity == 0:
        mo.planned_quantity = Decimal(str(quantity))
        refresh_status(session, mo)


# An MO not started yet is BLOCKED while one of its ingredients is short at its location
# for what is left to make (planned_quantity_per_unit x (planned - completed)), else
# NOT_STARTED; the other statuses come from productions (or IN_PROGRESS set by hand).
# Stock changes by documents of every kind, so the rule is one SQL expression: it is
# computed when MOs are read (``statuses``, ``status_column``) and written back,
# set-based, for the MOs that use what a receipt or production changed (``refresh_waiting``).
WAITING = ("NOT_STARTED", "BLOCKED")


def _short_of_ingredients() -> ColumnElement[bool]:
    """True for an MO (of the enclosing statement) with an ingredient short where it is made."""
    row = ManufacturingOrderRecipeRow
    on_hand = (
        select(func.coalesce(func.sum(Stock.quantity), 0))
        .where(
            Stock.variant_id == row.variant_id,
            Stock.location_id == ManufacturingOrder.location_id,
        )
        .correlate_except(Stock)
        .scalar_subquery()
    )
    left = ManufacturingOrder.planned_quantity - ManufacturingOrder.completed_quantity
    return (
        exists()
        .where(
            row.manufacturing_order_id == ManufacturingOrder.id,
            row.deleted_at.is_(None),
            on_hand + ledger.EPSILON < row.planned_quantity_per_unit * left,
        )
        .correlate_except(row)
    )


def _readiness() -> ColumnElement[str]:
    return case((_short_of_ingredients(), "BLOCKED"), else_="NOT_STARTED")


def status_column() -> ColumnElement[str]:
    """An MO's status as of now: readiness for MOs not started, else the stored one."""
    return case(
        (ManufacturingOrder.status.in_(WAITING), _readiness()), else_=ManufacturingOrder.status
    )


def statuses(session: Session, mo_ids: list[int]) -> dict[int, str]:
    """The current status of each MO, in one query (a page of MOs at a time)."""
    if not mo_ids:
        return {}
    rows = session.execute(
        select(ManufacturingOrder.id, status_column()).where(ManufacturingOrder.id.in_(mo_ids))
    ).all()
    return {mo_id: status for mo_id, status in rows}


def refresh_status(session: Session, mo: ManufacturingOrder) -> None:
    """Store the MO's current status (BLOCKED or NOT_STARTED while not started)."""
    session.flush()
    mo.status = statuses(session, [mo.id])[mo.id]


def refresh_waiting(session: Session, variant_ids: list[int], location_ids: list[int]) -> None:
    """Stock of these variants changed at these locations: store the readiness of the
    MOs not started there that use one of them, set-based.

    MOs another transaction holds (``lock``) are skipped, not waited for: that
    use case writes their status itself, and waiting could deadlock against
    it (it holds the MO and wants the stock rows this one holds).
    """
    if not variant_ids or not location_ids:
        return
    row = ManufacturingOrderRecipeRow
    uses = exists().where(
        row.manufacturing_order_id == ManufacturingOrder.id,
        row.deleted_at.is_(None),
        row.variant_id.in_(sorted(set(variant_ids))),
    )
    now = _readiness()
    changed = session.execute(
        select(ManufacturingOrder.id, now)
        .where(
            ManufacturingOrder.status.in_(WAITING),
            ManufacturingOrder.deleted_at.is_(None),
            ManufacturingOrder.location_id.in_(sorted(set(location_ids))),
            uses,
            ManufacturingOrder.status != now,
        )
        .with_for_update(skip_locked=True, of=ManufacturingOrder)
    ).all()
    for status in WAITING:
        ids = [mo_id for mo_id, to in changed if to == status]
        if ids:
            session.execute(
                update(ManufacturingOrder)
                .where(ManufacturingOrder.id.in_(ids))
                .values(status=status, updated_at=utcnow())
            )


def _available(session: Session, variant_id: int, location_id: int) -> Decimal:
    return Decimal(
        session.scalar(
            select(func.coalesce(func.sum(Stock.quantity), 0)).where(
                Stock.variant_id == variant_id, Stock.location_id == location_id
            )
        )
        or 0
    )


def recipe_rows(session: Session, mo_id: int) -> list[ManufacturingOrderRecipeRow]:
    return list(
        session.scalars(
            select(ManufacturingOrderRecipeRow)
            .where(
                ManufacturingOrderRecipeRow.manufacturing_order_id == mo_id,
                ManufacturingOrderRecipeRow.deleted_at.is_(None),
            )
            .order_by(ManufacturingOrderRecipeRow.id)
        )
    )


def lock(session: Session, mo: ManufacturingOrder, path: str | None = None) -> ManufacturingOrder:
    """Hold the MO's row lock until the transaction ends, and re-read it.

    Every use case that reads an MO's quantities and writes them back takes it
    first, so two productions (or a production and a revert) of one MO queue
    instead of overwriting each other's ``completed_quantity``. PostgreSQL:
    ``SELECT ... FOR UPDATE``; SQLite's single writer serialises them already.
    """
    session.refresh(mo, with_for_update=True)
    if mo.deleted_at is not None:
        if path:
            raise errors.refuse(
                errors.MISSING,
                f"Manufacturing order {mo.id} has been deleted: send the id of an existing one.",
                path=path,
            )
        raise errors.NotFound("Manufacturing order", mo.id)
    return mo


def active_productions(session: Session, mo_id: int) -> list[Production]:
    return list(
        session.scalars(
            select(Production)
            .where(Production.manufacturing_order_id == mo_id, Production.deleted_at.is_(None))
            .order_by(Production.id)
        )
    )


# -- MO recipe rows ------------------------------------------------------------------------


def add_recipe_row(
    session: Session, data: dict[str, Any], actor: str
) -> ManufacturingOrderRecipeRow:
    """An ingredient line on an MO: given explicitly, or copied from the recipe."""
    mo = get(
        session,
        ManufacturingOrder,
        data.get("manufacturing_order_id"),
        "Manufacturing order",
        path="manufacturing_order_id",
    )
    variant = get(session, Variant, data.get("variant_id"), "Variant", path="variant_id")
    per_unit = data.get("planned_quantity_per_unit")
    if per_unit is None:
        rec = session.scalar(
            select(RecipeRow).where(
                RecipeRow.product_variant_id == mo.variant_id,
                RecipeRow.ingredient_variant_id == variant.id,
            )
        )
        if rec is None:
            raise errors.refuse(
                errors.MISSING,
                f"{variant.sku} is not in the recipe of the "
                "MO's product: send planned_quantity_per_unit.",
                path="planned_quantity_per_unit",
            )
        per_unit = rec.quantity
    row = ManufacturingOrderRecipeRow(
        manufacturing_order_id=mo.id,
        variant_id=variant.id,
        notes=data.get("notes"),
        planned_quantity_per_unit=_positive(per_unit, "planned_quantity_per_unit"),
    )
    session.add(row)
    session.flush()
    set_row_picks(session, mo, row, data, actor)
    refresh_status(session, mo)
    return row


def update_recipe_row(
    session: Session, row: ManufacturingOrderRecipeRow, data: dict[str, Any], actor: str
) -> ManufacturingOrderRecipeRow:
    mo = get(session, ManufacturingOrder, row.manufacturing_order_id)
    if data.get("planned_quantity_per_unit") is not None:
        row.planned_quantity_per_unit = _positive(
            data["planned_quantity_per_unit"], "planned_quantity_per_unit"
        )
    apply(row, data, {"notes"})
    set_row_picks(session, mo, row, data, actor)
    row.updated_at = utcnow()
    session.flush()
    refresh_status(session, mo)
    return row


def delete_recipe_row(session: Session, row: ManufacturingOrderRecipeRow) -> None:
    lock(session, get(session, ManufacturingOrder, row.manufacturing_order_id))
    session.refresh(row)  # what productions consumed up to the lock
    if row.consumed_quantity > 0:
        raise errors.refuse(
            errors.IN_USE,
            "This ingredient has been consumed by a production: delete that production first.",
            path="id",
        )
    _release_row_serials(session, row)
    session.execute(
        delete(BatchPick).where(
            BatchPick.resource_type == RECIPE_ROW, BatchPick.resource_id == row.id
        )
    )
    row.deleted_at = utcnow()


def set_row_picks(
    session: Session,
    mo: ManufacturingOrder,
    row: ManufacturingOrderRecipeRow,
    data: dict[str, Any],
    actor: str,
) -> None:
    """batch_transactions replace the row's batch picks; traceability serials are held."""
    if "batch_transactions" in data and data["batch_transactions"] is not None:
        session.execute(
            delete(BatchPick).where(
                BatchPick.resource_type == RECIPE_ROW, BatchPick.resource_id == row.id
            )
        )
        for i, p in enumerate(data["batch_transactions"]):
            b = batches.of_variant(
                session, int(p["batch_id"]), row.variant_id, f"batch_transactions[{i}].batch_id"
            )
            session.add(
                BatchPick(
                    resource_type=RECIPE_ROW,
                    resource_id=row.id,
                    batch_id=b.id,
                    quantity=_positive(p.get("quantity"), f"batch_transactions[{i}].quantity"),
                )
            )
    named = [
        int(t["serial_number_id"])
        for t in data.get("traceability") or []
        if t.get("serial_number_id")
    ]
    if named:
        serials.of_variant(session, row.variant_id, named, "traceability")
        _release_row_serials(session, row)
        ledger.hold_serials(session, named, RECIPE_ROW, row.id, mo.location_id, actor)
    session.flush()


def row_serials(session: Session, row_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Serial.id)
            .where(Serial.holder_type == RECIPE_ROW, Serial.holder_id == row_id)
            .order_by(Serial.id)
        )
    )


def _release_row_serials(session: Session, row: ManufacturingOrderRecipeRow) -> None:
    ledger.release_serials(session, row_serials(session, row.id), RECIPE_ROW, row.id)


# -- productions ---------------------------------------------------------------------------


@dataclass
class _Consumed:
    """What one recipe row consumed: its ingredient record and the inputs taken."""

    ingredient: ProductionIngredient
    row: ManufacturingOrderRecipeRow | None
    per_unit: Decimal
    batches: list[tuple[int | None, Decimal]] = field(default_factory=list)
    serial_ids: list[int] = field(default_factory=list)


def produce(session: Session, data: dict[str, Any], actor: str) -> Production:
    """Record a production: consume ingredients, make output, write genealogy."""
    mo = lock(
        session,
        get(
            session,
            ManufacturingOrder,
            data.get("manufacturing_order_id"),
            "Manufacturing order",
            path="manufacturing_order_id",
        ),
        "manufacturing_order_id",
    )
    if mo.status == "DONE":
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"{mo.order_no} is done: delete a production to reopen it, or create a new MO.",
            path="manufacturing_order_id",
        )
    variant = get(session, Variant, mo.variant_id)
    qty = _positive(data.get("completed_quantity"), "completed_quantity")
    _whole_if_serial(variant, qty, "completed_quantity")
    when = _as_datetime(data.get("completed_date")) or utcnow()
    prod = Production(
        manufacturing_order_id=mo.id,
        completed_quantity=qty,
        completed_date=when,
        is_final=bool(data.get("is_final")),
        user=actor,
    )
    session.add(prod)
    session.flush()
    consumed = _consume(session, mo, prod, qty, data, actor)
    out_serials, out_batch = _make_output(session, mo, variant, prod, qty, data, actor)
    _write_genealogy(session, mo, prod, qty, out_serials, out_batch, consumed)
    mo.completed_quantity += qty
    mo.status = rules.status_after(
        mo.planned_quantity, mo.completed_quantity, prod.is_final, mo.status
    )
    mo.done_date = when if mo.status == "DONE" else None
    mo.updated_at = utcnow()
    if mo.sales_order_row_id:
        _sales().assign_production_output(
            session,
            mo.sales_order_row_id,
            serial_ids=out_serials,
            batch_id=out_batch,
            quantity=qty,
            actor=actor,
        )
    session.flush()
    refresh_waiting(
        session, [mo.variant_id, *(c.ingredient.variant_id for c in consumed)], [mo.location_id]
    )
    return prod


def _consume(
    session: Session,
    mo: ManufacturingOrder,
    prod: Production,
    qty: Decimal,
    data: dict[str, Any],
    actor: str,
) -> list[_Consumed]:
    named = _named_inputs(session, data)
    doc = ledger.Doc(
        reason="consumption",
        resource_type=INGREDIENT,
        resource_id=0,
        user=actor,
        document=mo.order_no,
        when=prod.completed_date,
        serial_status_out="consumed",
    )
    allow_expired = bool(data.get("allow_expired"))
    rows = recipe_rows(session, mo.id)
    stray = set(named) - {r.variant_id for r in rows}
    if stray:
        sku = session.scalar(select(Variant.sku).where(Variant.id == min(stray)))
        raise errors.refuse(
            errors.WRONG_BATCH,
            f"{sku} is not an ingredient of {mo.order_no}: "
            "add a recipe row for it or leave it out.",
            path="traceability",
        )
    out = []
    for i, row in enumerate(rows):
        need = rules.consumption(row.planned_quantity_per_unit, qty)
        ing = ProductionIngredient(
            production_id=prod.id, recipe_row_id=row.id, variant_id=row.variant_id, quantity=need
        )
        session.add(ing)
        session.flush()
        c = _Consumed(ing, row, row.planned_quantity_per_unit)
        changes = _ingredient_changes(
            session, mo, row, need, named, allow_expired, f"ingredients[{i}]", c
        )
        for ch in changes:
            ch.resource_type, ch.resource_id = INGREDIENT, ing.id
        ledger.post(session, doc, changes)
        row.consumed_quantity += need
        out.append(c)
    return out


def _named_inputs(session: Session, data: dict[str, Any]) -> dict[int, dict[str, list[Any]]]:
    """traceability / ingredients entries grouped by the variant they belong to."""
    entries = list(data.get("traceability") or [])
    for ing in data.get("ingredients") or []:
        entries += [dict(t) for t in ing.get("traceability") or []]
        entries += [
            {"batch_id": b["batch_id"], "quantity": b.get("quantity")}
            for b in ing.get("batch_transactions") or []
        ]
        entries += [{"serial_number_id": s} for s in ing.get("serial_numbers") or []]
    out: dict[int, dict[str, list[Any]]] = {}
    for t in entries:
        if t.get("serial_number_id"):
            s = session.get(Serial, int(t["serial_number_id"]))
            if s is None:
                raise errors.refuse(
                    errors.MISSING,
                    f"Serial number id {t['serial_number_id']} does not exist.",
                    path="traceability",
                )
            out.setdefault(s.variant_id, {"b": [], "s": []})["s"].append(s.id)
        elif t.get("batch_id"):
            b = session.get(Batch, int(t["batch_id"]))
            if b is None:
                raise errors.refuse(
                    errors.MISSING, f"Batch {t['batch_id']} does not exist.", path="traceability"
                )
            out.setdefault(b.variant_id, {"b": [], "s": []})["b"].append(
                (b.id, Decimal(str(t.get("quantity") or 0)))
            )
    return out


def _ingredient_changes(
    session: Session,
    mo: ManufacturingOrder,
    row: ManufacturingOrderRecipeRow,
    need: Decimal,
    named: dict[int, dict[str, list[Any]]],
    allow_expired: bool,
    path: str,
    c: _Consumed,
) -> list[ledger.Change]:
    variant = get(session, Variant, row.variant_id)
    mine = named.get(variant.id, {"b": [], "s": []})
    tracking = variant.item.tracking
    if tracking == "serial":
        ids = _ingredient_serials(session, mo, variant, row, need, mine["s"], path)
        c.serial_ids = ids
        c.batches = [(None, need)]
        return [ledger.Change(variant.id, mo.location_id, -need, serial_ids=ids)]
    if tracking == "batch":
        strict = bool(mine["b"])
        _check_named_batches(variant, mine["b"], need, path)
        picks: list[tuple[int, Decimal | None]] = (
            [(bid, q) for bid, q in mine["b"] if q > 0]  # named quantities first,
            + [(bid, None) for bid, q in mine["b"] if q <= 0]  # then what the others hold
            if strict
            else [
                (p.batch_id, p.quantity)
                for p in session.scalars(
                    select(BatchPick)
                    .where(BatchPick.resource_type == RECIPE_ROW, BatchPick.resource_id == row.id)
                    .order_by(BatchPick.id)
                )
                if p.batch_id
            ]
        )
        plan = rules.allocate(
            need,
            picks,
            _batch_stock(session, variant.id, mo.location_id),
            date.today(),
            allow_expired,
            f"{path}.batch_transactions",
            strict=strict,
        )
        c.batches = list(plan)
        return [ledger.Change(variant.id, mo.location_id, -q, bid) for bid, q in plan]
    c.batches = [(None, need)]
    return [ledger.Change(variant.id, mo.location_id, -need)]


def _check_named_batches(
    variant: Variant, named: list[tuple[int, Decimal]], need: Decimal, path: str
) -> None:
    """Batches named with quantities give exactly those: never more than the need, and,
    when every named batch has a quantity, exactly the need.

    A batch named without a quantity gives what it holds (up to what is still
    needed) and the rest comes first-expired-first-out (``rules.allocate``).
    """
    if not named:
        return
    took = sum((q for _, q in named if q > 0), Decimal(0))
    open_ended = any(q <= 0 for _, q in named)
    if took > need or (took != need and not open_ended):
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"The batches chosen for {variant.sku} add up to {_fmt(took)} but the "
            f"production needs {_fmt(need)}: make them equal, leave the quantity out "
            "on a batch to take what it holds, or name none to take the "
            "first-expiring batches.",
            path=f"{path}.batch_transactions",
        )


def _ingredient_serials(
    session: Session,
    mo: ManufacturingOrder,
    variant: Variant,
    row: ManufacturingOrderRecipeRow,
    need: Decimal,
    named: list[int],
    path: str,
) -> list[int]:
    """Serial ingredients are named (in the request, or held on the recipe row)."""
    count = int(need)
    if need != count:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"{variant.sku} is serial-tracked: the "
            f"production needs {_fmt(need)} of it, a whole number.",
            path=f"{path}.quantity",
        )
    ids = named or row_serials(session, row.id)[:count]
    if len(ids) != count:
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"Name exactly {count} serial number(s) of {variant.sku} to consume (got {len(ids)}).",
            path=f"{path}.serial_numbers",
        )
    held = session.execute(
        select(Serial.serial_number, Serial.holder_type, Serial.holder_id).where(
            Serial.id.in_(ids), Serial.holder_type.is_not(None)
        )
    ).all()
    others = [h for h in held if not (h.holder_type == RECIPE_ROW and h.holder_id == row.id)]
    if others:
        raise errors.refuse_many(
            [
                errors.Detail(
                    f"{path}.serial_numbers",
                    errors.NOT_IN_STOCK,
                    f"Serial number '{h.serial_number}' is held by {h.holder_type} {h.holder_id}: "
                    "release it there or pick another.",
                    {"serial_number": h.serial_number},
                )
                for h in others
            ]
        )
    _refuse_absent_serials(session, mo, ids, f"{path}.serial_numbers")
    ledger.release_serials(session, ids, RECIPE_ROW, row.id)
    return ids


def _refuse_absent_serials(
    session: Session, mo: ManufacturingOrder, ids: list[int], path: str
) -> None:
    """Serial ingredients must be on hand where the MO is made (one query to find the rest)."""
    gone = session.execute(
        select(Serial.id, Serial.serial_number, Serial.status)
        .where(
            Serial.id.in_(ids),
            Serial.status.not_in(ledger.ON_HAND) | (Serial.location_id != mo.location_id),
        )
        .order_by(Serial.id)
    ).all()
    if not gone:
        return
    where = session.scalar(select(Location.name).where(Location.id == mo.location_id))
    raise errors.refuse_many(
        [
            errors.Detail(
                path,
                errors.NOT_IN_STOCK,
                f"Serial number '{g.serial_number}' is "
                + (f"{g.status}" if g.status not in ledger.ON_HAND else "at another location")
                + f", not on hand for {mo.order_no}: pick one in stock at {where}.",
                {"serial_number": g.serial_number},
            )
            for g in gone[:50]
        ]
    )


def _batch_stock(session: Session, variant_id: int, location_id: int) -> list[rules.BatchStock]:
    rows = session.execute(
        select(
            Batch.id, Batch.batch_number, Stock.quantity, Batch.expiration_date, Batch.hold_reason
        )
        .join(Stock, Stock.batch_id == Batch.id)
        .where(Stock.variant_id == variant_id, Stock.location_id == location_id, Stock.quantity > 0)
    ).all()
    return [
        rules.BatchStock(
            r.id, r.batch_number, Decimal(r.quantity), r.expiration_date, r.hold_reason
        )
        for r in rows
    ]


def _make_output(
    session: Session,
    mo: ManufacturingOrder,
    variant: Variant,
    prod: Production,
    qty: Decimal,
    data: dict[str, Any],
    actor: str,
) -> tuple[list[int], int | None]:
    doc = ledger.Doc(
        reason="production",
        resource_type=PRODUCTION,
        resource_id=prod.id,
        user=actor,
        document=mo.order_no,
        when=prod.completed_date,
    )
    tracking = variant.item.tracking
    if tracking == "serial":
        ids = _output_serials(session, mo, variant, int(qty), data, prod.completed_date)
        ledger.post(session, doc, [ledger.Change(variant.id, mo.location_id, qty, serial_ids=ids)])
        return ids, None
    batch_id = _output_batch(session, mo, variant, data) if tracking == "batch" else None
    prod.batch_id = batch_id
    ledger.post(session, doc, [ledger.Change(variant.id, mo.location_id, qty, batch_id)])
    return [], batch_id


def _output_serials(
    session: Session,
    mo: ManufacturingOrder,
    variant: Variant,
    count: int,
    data: dict[str, Any],
    when: datetime,
) -> list[int]:
    """Ids minted on the MO, else entered numbers, else the MO's minted, else generated."""
    given = [int(i) for i in data.get("serial_numbers") or []]
    entered = serials.expand_entries(list(data.get("new_serial_numbers") or []))
    minted = [s.id for s in minted_serials(session, mo.id)]
    if given:
        bad = [i for i in given if i not in set(minted)]
        if bad:
            raise errors.refuse(
                errors.NOT_IN_STOCK,
                f"Serial number id {bad[0]} is not minted "
                f"on {mo.order_no} or was produced already: mint it on the MO "
                "(POST /serial_numbers) or send new_serial_numbers.",
                path="serial_numbers",
            )
        ids = given
    elif entered:
        ids = serials.mint(session, variant, entered, "new_serial_numbers")
    elif minted:
        ids = minted[:count]
    else:
        numbers = numbering.serial_numbers(session, variant, count, when.date())
        ids = serials.mint(session, variant, numbers, "serial_numbers")
    if len(ids) != count:
        raise errors.refuse(
            errors.QUANTITY_MISMATCH,
            f"A production of {count} needs exactly {count} serial number(s); got {len(ids)}.",
            path="serial_numbers",
        )
    _drop_links(session, MO, mo.id, ids)
    return ids


def _output_batch(
    session: Session, mo: ManufacturingOrder, variant: Variant, data: dict[str, Any]
) -> int:
    """The batch given, or a new/existing one by number (with expiry), or the MO's batch."""
    bt = data.get("batch_transaction") or {}
    if bt.get("batch_id"):
        return batches.of_variant(
            session, int(bt["batch_id"]), variant.id, "batch_transaction.batch_id"
        ).id
    number = bt.get("batch_number") or data.get("batch_number")
    expiry = bt.get("expiration_date") or data.get("expiration_date")
    if not number:
        pick = session.scalar(
            select(BatchPick.batch_id)
            .where(BatchPick.resource_type == MO, BatchPick.resource_id == mo.id)
            .limit(1)
        )
        if pick:
            return pick
        number = mo.order_no
    b = batches.find_or_create(
        session, variant.id, number, expiration_date=expiry, batch_barcode=bt.get("batch_barcode")
    )
    if expiry and b.expiration_date != expiry:
        raise errors.refuse(
            errors.DUPLICATE,
            f"Batch '{b.batch_number}' exists with expiry "
            f"{b.expiration_date}; send that expiry or another batch number.",
            path="batch_transaction.expiration_date",
        )
    return b.id


def _write_genealogy(
    session: Session,
    mo: ManufacturingOrder,
    prod: Production,
    qty: Decimal,
    out_serials: list[int],
    out_batch: int | None,
    consumed: list[_Consumed],
) -> None:
    """One row per (output, input): serial inputs go k per output, batches in shares."""
    outputs: list[tuple[int | None, int | None]] = [(None, s) for s in out_serials] or [
        (out_batch, None)
    ]
    share = Decimal(1) / len(outputs) if out_serials else Decimal(1)
    rows = []
    for c in consumed:
        inputs: list[list[tuple[int | None, int | None, Decimal]]] = []
        if c.serial_ids and out_serials and len(c.serial_ids) % len(out_serials) == 0:
            k = len(c.serial_ids) // len(out_serials)
            inputs = [
                [(None, s, Decimal(1)) for s in c.serial_ids[i * k : (i + 1) * k]]
                for i in range(len(out_serials))
            ]
        elif c.serial_ids:
            inputs = [[(None, s, share) for s in c.serial_ids]] * len(outputs)
        else:
            inputs = [[(b, None, q * share) for b, q in c.batches]] * len(outputs)
        for (ob, osr), ins in zip(outputs, inputs, strict=True):
            rows += [
                {
                    "output_variant_id": mo.variant_id,
                    "output_batch_id": ob,
                    "output_serial_id": osr,
                    "input_variant_id": c.ingredient.variant_id,
                    "input_batch_id": ib,
                    "input_serial_id": isr,
                    "quantity": iq.quantize(Decimal("0.000001")),
                    "resource_type": PRODUCTION,
                    "resource_id": prod.id,
                    "manufacturing_order_id": mo.id,
                    "created_at": utcnow(),
                }
                for ib, isr, iq in ins
            ]
    if rows:
        session.execute(insert(Genealogy), rows)


def delete_production(session: Session, prod: Production, actor: str) -> None:
    """Revert a production while its output is in stock: new movements both ways."""
    mo = lock(session, get(session, ManufacturingOrder, prod.manufacturing_order_id))
    session.refresh(prod)  # a revert that got the lock first has deleted it
    if prod.deleted_at is not None:
        raise errors.NotFound("Production", prod.id)
    out_serials = list(
        session.scalars(
            select(SerialTransaction.serial_id).where(
                SerialTransaction.resource_type == PRODUCTION,
                SerialTransaction.resource_id == prod.id,
                SerialTransaction.quantity_change == 1,
                SerialTransaction.is_active.is_(True),
            )
        )
    )
    if mo.sales_order_row_id:
        _sales().release_production_output(
            session,
            mo.sales_order_row_id,
            out_serials,
            prod.batch_id,
            prod.completed_quantity,
            actor,
        )
    doc = ledger.Doc(
        reason="revert",
        resource_type=PRODUCTION,
        resource_id=prod.id,
        user=actor,
        document=f"{mo.order_no} (production deleted)",
        serial_status_out="pending",
    )
    _refuse_held_output(session, mo, out_serials)
    moved = describe_moved(session, out_serials, mo.location_id)
    if moved:
        raise errors.refuse(
            errors.IN_USE,
            f"This production of {mo.order_no} cannot be "
            f"deleted: its output has left stock ({moved}). Bring it back "
            "first (e.g. revert the delivery).",
            path="id",
        )
    try:
        ledger.post(
            session,
            doc,
            [
                ledger.Change(
                    mo.variant_id,
                    mo.location_id,
                    -prod.completed_quantity,
                    prod.batch_id,
                    out_serials,
                )
            ],
        )
    except errors.TracelotError as exc:
        raise errors.refuse(
            errors.IN_USE,
            f"The output of this production of {mo.order_no} "
            f"is no longer all in stock ({exc.message}); bring it back first.",
            path="id",
        ) from None
    _deactivate(session, PRODUCTION, [prod.id], out_serials)
    session.execute(
        update(SerialTransaction)
        .where(  # minted on the MO: mintable again
            SerialTransaction.resource_type == MO,
            SerialTransaction.resource_id == mo.id,
            SerialTransaction.serial_id.in_(out_serials),
        )
        .values(is_active=True)
        .execution_options(synchronize_session=False)
    )
    restored = _restore_ingredients(session, mo, prod, actor)
    session.execute(
        delete(Genealogy).where(
            Genealogy.resource_type == PRODUCTION, Genealogy.resource_id == prod.id
        )
    )
    mo.completed_quantity -= prod.completed_quantity
    mo.status = "IN_PROGRESS" if mo.completed_quantity > 0 else "NOT_STARTED"
    mo.status = rules.status_after(mo.planned_quantity, mo.completed_quantity, False, mo.status)
    mo.done_date = None
    prod.deleted_at = utcnow()
    refresh_status(session, mo)
    refresh_waiting(session, [mo.variant_id, *restored], [mo.location_id])


def describe_moved(session: Session, serial_ids: list[int], location_id: int) -> str:
    """Name the serials no longer on hand at ``location_id`` and what last moved them."""
    if not serial_ids:
        return ""
    gone = session.execute(
        select(Serial.id, Serial.serial_number, Serial.status)
        .where(
            Serial.id.in_(serial_ids),
            (Serial.status.not_in(ledger.ON_HAND)) | (Serial.location_id != location_id),
        )
        .order_by(Serial.id)
        .limit(10)
    ).all()
    parts = []
    for g in gone:
        last = session.execute(
            select(SerialTransaction.resource_type, SerialTransaction.resource_id)
            .where(SerialTransaction.serial_id == g.id)
            .order_by(SerialTransaction.id.desc())
            .limit(1)
        ).first()
        by = f" by {last.resource_type} {last.resource_id}" if last else ""
        parts.append(f"serial '{g.serial_number}' is {g.status}{by}")
    return "; ".join(parts)


def _refuse_held_output(session: Session, mo: ManufacturingOrder, ids: list[int]) -> None:
    held = session.execute(
        select(Serial.serial_number, Serial.holder_type, Serial.holder_id).where(
            Serial.id.in_(ids), Serial.holder_type.is_not(None)
        )
    ).all()
    if held:
        raise errors.refuse_many(
            [
                errors.Detail(
                    "id",
                    errors.IN_USE,
                    f"Serial number '{h.serial_number}' made by {mo.order_no} is "
                    f"held by {h.holder_type} {h.holder_id}: release it first.",
                    {"serial_number": h.serial_number},
                )
                for h in held
            ]
        )


def _restore_ingredients(
    session: Session, mo: ManufacturingOrder, prod: Production, actor: str
) -> list[int]:
    """Put back what the production consumed; returns the ingredient variants."""
    ings = list(
        session.scalars(
            select(ProductionIngredient).where(ProductionIngredient.production_id == prod.id)
        )
    )
    doc = ledger.Doc(
        reason="revert",
        resource_type=INGREDIENT,
        resource_id=0,
        user=actor,
        document=f"{mo.order_no} (production deleted)",
    )
    ids = [i.id for i in ings]
    moves = session.scalars(
        select(Movement)
        .where(
            Movement.resource_type == INGREDIENT,
            Movement.resource_id.in_(ids),
            Movement.reason == "consumption",
        )
        .order_by(Movement.id)
    ).all()
    for m in moves:
        sids = list(
            session.scalars(
                select(SerialTransaction.serial_id).where(SerialTransaction.movement_id == m.id)
            )
        )
        ledger.post(
            session,
            doc,
            [
                ledger.Change(
                    m.variant_id,
                    m.location_id,
                    -m.quantity,
                    m.batch_id,
                    sids,
                    resource_type=INGREDIENT,
                    resource_id=m.resource_id,
                )
            ],
        )
    _deactivate(session, INGREDIENT, ids, None)
    for ing in ings:
        row = (
            session.get(ManufacturingOrderRecipeRow, ing.recipe_row_id)
            if ing.recipe_row_id
            else None
        )
        if row is not None:
            row.consumed_quantity -= ing.quantity
    return [i.variant_id for i in ings]


def _deactivate(
    session: Session, rtype: str, rids: list[int], serial_ids: list[int] | None
) -> None:
    stmt = update(SerialTransaction).where(
        SerialTransaction.resource_type == rtype, SerialTransaction.resource_id.in_(rids)
    )
    if serial_ids is not None:
        stmt = stmt.where(SerialTransaction.serial_id.in_(serial_ids))
    session.execute(stmt.values(is_active=False).execution_options(synchronize_session=False))


# -- serials minted on an MO (POST /serial_numbers resource_type ManufacturingOrder) -------


def minted_serials(session: Session, mo_id: int) -> list[Serial]:
    """Serials minted on the MO and not produced yet, first minted first."""
    return serials.minted_on(session, MO, mo_id)


def produced_serials(
    session: Session, prod_ids: list[int]
) -> list[tuple[int, Serial, SerialTransaction]]:
    rows = session.execute(
        select(SerialTransaction.resource_id, Serial, SerialTransaction)
        .join(Serial, Serial.id == SerialTransaction.serial_id)
        .where(
            SerialTransaction.resource_type == PRODUCTION,
            SerialTransaction.resource_id.in_(prod_ids),
            SerialTransaction.quantity_change == 1,
            SerialTransaction.is_active.is_(True),
        )
        .order_by(SerialTransaction.id)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def link_serials(session: Session, mo_id: int, numbers: list[str], actor: str) -> list[int]:
    """Mint serials on an MO (link 0); production puts them in stock (+1)."""
    mo = lock(
        session,
        get(session, ManufacturingOrder, mo_id, "Manufacturing order", path="resource_id"),
        "resource_id",
    )
    room = int(mo.planned_quantity - mo.completed_quantity) - len(minted_serials(session, mo.id))
    return serials.mint_on(
        session,
        serials.serial_variant(session, mo.variant_id),
        numbers,
        MO,
        mo.id,
        room=room,
        label=mo.order_no,
        actor=actor,
    )


def unlink_serials(session: Session, mo_id: int, ids: list[int], actor: str) -> None:
    """Undo minting on an MO, for serials not produced yet."""
    get(session, ManufacturingOrder, mo_id, "Manufacturing order", path="resource_id")
    serials.unmint(session, MO, mo_id, ids, f"manufacturing order {mo_id}")


def _drop_links(session: Session, rtype: str, rid: int, ids: list[int]) -> None:
    """The 0-link of a minting is done once the unit is produced/received (+1 link)."""
    if ids:
        _deactivate(session, rtype, [rid], ids)


serials.register(MO, link_serials, unlink_serials)


# -- make-to-order -------------------------------------------------------------------------


def make_to_order(
    session: Session, row_id: int, actor: str, create_subassemblies: bool = False
) -> ManufacturingOrder:
    """An MO for a sales row's variant, quantity and location, linked to the row.

    With ``create_subassemblies``, MOs are also made for producible ingredients
    the location lacks, down the recipe tree (see ``make_subassemblies``).
    """
    from tracelot.db.models import SalesOrder, SalesOrderRow

    row = get(session, SalesOrderRow, row_id, "Sales order row", path="sales_order_row_id")
    order = get(session, SalesOrder, row.sales_order_id)
    if row.linked_manufacturing_order_id or session.scalar(
        select(ManufacturingOrder.id).where(
            ManufacturingOrder.sales_order_row_id == row.id, ManufacturingOrder.deleted_at.is_(None)
        )
    ):
        raise errors.refuse(
            errors.ALREADY_LINKED,
            f"Sales order row {row.id} is already linked "
            f"to manufacturing order {row.linked_manufacturing_order_id}: "
            "unlink it first.",
            path="sales_order_row_id",
        )
    mo = create_order(
        session,
        {
            "variant_id": row.variant_id,
            "location_id": row.location_id or order.location_id,
            "planned_quantity": row.quantity,
        },
        actor,
    )
    mo.sales_order_id, mo.sales_order_row_id = order.id, row.id
    session.flush()
    _sales().link_manufacturing_order(session, row.id, mo.id)
    if create_subassemblies:
        make_subassemblies(session, mo, actor)
    return mo


MAX_SUBASSEMBLY_LEVELS = 10


def make_subassemblies(
    session: Session, mo: ManufacturingOrder, actor: str, depth: int = 0
) -> list[ManufacturingOrder]:
    """MOs for the ingredients that have a recipe and are short at the MO's location.

    Each plans the shortfall (whole units for serial items) and points at its
    parent, so a planner sees the tree; stock already on hand is used first.
    """
    made: list[ManufacturingOrder] = []
    if depth >= MAX_SUBASSEMBLY_LEVELS:
        return made
    for r in recipe_rows(session, mo.id):
        if not recipe_of(session, r.variant_id):
            continue
        need = rules.consumption(r.planned_quantity_per_unit, mo.planned_quantity)
        short = need - _available(session, r.variant_id, mo.location_id)
        if short <= 0:
            continue
        if get(session, Variant, r.variant_id).item.tracking == "serial":
            short = short.to_integral_value(rounding=ROUND_CEILING)
        sub = create_order(
            session,
            {
                "variant_id": r.variant_id,
                "location_id": mo.location_id,
                "planned_quantity": short,
                "additional_info": f"Sub-assembly for {mo.order_no}",
            },
            actor,
        )
        sub.parent_manufacturing_order_id = mo.id
        made += [sub, *make_subassemblies(session, sub, actor, depth + 1)]
    return made


def unlink(session: Session, row_id: int, actor: str) -> ManufacturingOrder:
    """Explicit unlink: the MO stays, the row stops waiting for it."""
    mo = session.scalar(
        select(ManufacturingOrder).where(ManufacturingOrder.sales_order_row_id == row_id)
    )
    if mo is None:
        raise errors.refuse(
            errors.MISSING,
            f"Sales order row {row_id} is not linked to a manufacturing order.",
            path="sales_order_row_id",
        )
    _sales().unlink_manufacturing_order(session, row_id, actor)
    mo.sales_order_id = mo.sales_order_row_id = None
    mo.updated_at = utcnow()
    return mo


def _sales() -> Any:
    from tracelot.services import sales

    return sales


# -- helpers -------------------------------------------------------------------------------


def _positive(value: Any, path: str) -> Decimal:
    try:
        q = Decimal(str(value))
    except Exception:  # noqa: BLE001 - any unparsable value is the caller's mistake
        q = Decimal(0)
    if value is None or not q.is_finite() or q <= 0:
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"{path} must be a number above 0.", path=path
        )
    return q


def _whole_if_serial(variant: Variant, qty: Decimal, path: str) -> None:
    if variant.item.tracking == "serial" and qty != qty.to_integral_value():
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"{variant.sku} is serial-tracked: {path} must be whole units.",
            path=path,
        )


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"'{value}' is not an ISO 8601 date-time.",
            path="completed_date",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _fmt(q: Decimal) -> str:
    return format(Decimal(q).normalize(), "f")

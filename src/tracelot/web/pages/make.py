"""Make: manufacturing orders, one MO with its recipe rows and productions, the
production dialog (FEFO batches, serial ingredients, output serials or batch).

Every write is one service call in one transaction (``deps.write``): creating
an MO is ``manufacturing.create_order``, recording a production
``manufacturing.produce``, deleting one ``manufacturing.delete_production``.
The serial ingredient picker is the sales picker (``static/picker.js``) on
``/make/rows/{id}/serials``, which answers in the same JSON shape.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from tracelot.db.models import (
    ManufacturingOrder,
    ManufacturingOrderRecipeRow,
    Production,
    Variant,
)
from tracelot.domain import errors
from tracelot.domain.errors import TracelotError
from tracelot.domain.serials import split_paste
from tracelot.services import manufacturing, picking
from tracelot.services.common import get
from tracelot.web import make_queries as mq
from tracelot.web.deps import Db, User, explain, form_date, signed_in_router, write
from tracelot.web.paging import PICKER_LISTED, paged, picker_limit, url_maker
from tracelot.web.render import HOLDER_PAGES
from tracelot.web.render import page as render

router = signed_in_router()
HOLDER_PAGES[manufacturing.RECIPE_ROW] = lambda row_id: f"/make/rows/{row_id}"


@router.get("/make")
def mo_list(
    request: Request, db: Db, q: str = "", status: str = "", page: int = 1, done: str = ""
) -> Response:
    return _list(request, db, q, status, page, flash=done or None)


def _list(request: Request, db: Db, q: str, status: str, page: int, **extra: Any) -> Response:
    return render(
        request,
        "make.html",
        "make",
        pager=paged(db, mq.mo_list(q, status), page),
        q=q,
        status=status,
        statuses=mq.STATUSES,
        variants=mq.product_variants(db),
        locations=mq.locations(db),
        url=url_maker(request),
        **extra,
    )


@router.post("/make")
def create_mo(
    request: Request,
    db: Db,
    user: User,
    sku: Annotated[str, Form()],
    location_id: Annotated[int, Form()],
    planned_quantity: Annotated[str, Form()],
    production_deadline_date: Annotated[str, Form()] = "",
    order_no: Annotated[str, Form()] = "",
) -> Response:
    def create(s: Session) -> int:
        variant_id = s.scalar(
            select(Variant.id).where(Variant.sku == sku.strip(), Variant.deleted_at.is_(None))
        )
        if variant_id is None:
            raise errors.refuse(
                errors.MISSING,
                f"No item variant has the SKU '{sku}': pick one from the list.",
                path="sku",
            )
        data = {
            "variant_id": variant_id,
            "location_id": location_id,
            "planned_quantity": planned_quantity,
            "order_no": order_no.strip() or None,
            "production_deadline_date": _when(production_deadline_date),
        }
        return manufacturing.create_order(s, data, user).id

    mo_id, err = write(request, db, create)
    if err:
        return _list(request, db, "", "", 1, error=explain(err), form_open=True)
    return RedirectResponse(f"/make/{mo_id}?done=Manufacturing order created.", status_code=303)


@router.get("/make/rows/{row_id}")
def recipe_row_page(db: Db, row_id: int) -> Response:
    row = db.get(ManufacturingOrderRecipeRow, row_id)
    target = f"/make/{row.manufacturing_order_id}#ing-{row_id}" if row else "/make"
    return RedirectResponse(target, status_code=303)


@router.get("/make/{mo_id}")
def mo_page(
    request: Request,
    db: Db,
    mo_id: int,
    done: str = "",
    error: str = "",
    quantity: str = "",
    reopen: bool = False,
) -> Response:
    head = mq.mo_header(db, mo_id)
    if head is None:
        return render(
            request, "missing.html", "make", what=f"Manufacturing order {mo_id}", status_code=404
        )
    mo = head.ManufacturingOrder
    qty = _produce_quantity(mo, quantity)
    return render(
        request,
        "mo.html",
        "make",
        mo=mo,
        head=head,
        rows=mq.recipe_rows(db, mo),
        productions=mq.productions(db, mo.id),
        plan=mq.production_plan(db, mo, qty),
        produce_qty=qty,
        pattern=mq.pattern_of(head.serial_pattern),
        flash=done or None,
        error=error or None,
        reopen=reopen,
    )


@router.get("/make/{mo_id}/plan")
def plan_fragment(request: Request, db: Db, mo_id: int, quantity: str = "") -> Response:
    """The dialog's ingredient section for another quantity (fetched as the user types)."""
    mo = db.get(ManufacturingOrder, mo_id)
    if mo is None:
        return Response("", status_code=404)
    qty = _produce_quantity(mo, quantity)
    return render(
        request, "_produce_ingredients.html", "make", plan=mq.production_plan(db, mo, qty), mo=mo
    )


def _produce_quantity(mo: ManufacturingOrder, text: str) -> Decimal:
    try:
        q = Decimal(text) if text else mo.planned_quantity - mo.completed_quantity
    except InvalidOperation:
        q = Decimal(0)
    return q if q.is_finite() and q > 0 else Decimal(1)


@router.get("/make/rows/{row_id}/serials")
def ingredient_serials(
    db: Db, row_id: int, q: str = "", scan: str = "", limit: int = PICKER_LISTED
) -> JSONResponse:
    """In-stock serials of a serial ingredient at the MO's location (the picker's source)."""
    row = db.get(ManufacturingOrderRecipeRow, row_id)
    mo = db.get(ManufacturingOrder, row.manufacturing_order_id) if row else None
    if row is None or mo is None:
        return JSONResponse({"error": f"Recipe row {row_id} does not exist.", "free": []})
    variant = db.get(Variant, row.variant_id)
    assert variant is not None
    holder = (manufacturing.RECIPE_ROW, row.id)
    try:
        found = picking.pick_serials(
            db, variant, mo.location_id, holder, q or None, scan or None, picker_limit(limit)
        )
    except TracelotError as exc:
        return JSONResponse({"error": exc.message, "free": [], "held": []})
    return JSONResponse(
        {
            "free": [{"id": s.id, "number": s.serial_number} for s in found.serials],
            "held": [{"id": s.id, "number": s.serial_number} for s in found.held_here],
            "scanned": found.scanned,
        }
    )


@router.post("/make/{mo_id}/produce")
async def produce(request: Request, db: Db, user: User, mo_id: int) -> Response:
    form = await request.form()
    return await run_in_threadpool(_produce, request, db, user, mo_id, form)


def _produce(request: Request, db: Db, user: str, mo_id: int, form: FormData) -> Response:
    _, err = write(
        request, db, lambda s: manufacturing.produce(s, _production(s, mo_id, form), user)
    )
    if err:  # the dialog opens again with the refusal and the quantity asked for
        qty = str(form.get("completed_quantity") or "")
        return mo_page(request, db, mo_id, error=explain(err), quantity=qty, reopen=True)
    return RedirectResponse(f"/make/{mo_id}?done=Production recorded.", status_code=303)


def _production(s: Session, mo_id: int, form: FormData) -> dict[str, Any]:
    """The dialog's form as the service's production request."""
    mo = s.get(ManufacturingOrder, mo_id)
    data: dict[str, Any] = {
        "manufacturing_order_id": mo_id,
        "completed_quantity": str(form.get("completed_quantity") or ""),
        "allow_expired": form.get("allow_expired") == "yes",
        "ingredients": [],
    }
    if mo is None:
        return data
    for row in manufacturing.recipe_rows(s, mo.id):
        picks = _batch_picks(form, row.id)
        ids = [int(str(i)) for i in form.getlist(f"serial_{row.id}") if str(i).isdigit()]
        if picks or ids:
            data["ingredients"].append({"batch_transactions": picks, "serial_numbers": ids})
    variant = s.get(Variant, mo.variant_id)
    assert variant is not None
    if variant.item.tracking == "serial" and form.get("output") == "enter":
        text = str(form.get("output_serials") or "")
        data["new_serial_numbers"] = [
            picking.scanned_serial(variant, line) for line in split_paste(text)
        ]
        if not data["new_serial_numbers"]:
            raise errors.refuse(
                errors.MISSING,
                "Enter, paste or scan the output serial numbers (one per line, ranges like "
                "SN-001..SN-010), or choose “Generate from the item's pattern”.",
                path="new_serial_numbers",
            )
    elif variant.item.tracking == "batch":
        data["batch_transaction"] = {
            "batch_number": str(form.get("batch_number") or "").strip() or None,
            "expiration_date": form_date(str(form.get("expiration_date") or ""), "expiration_date"),
        }
    return data


def _batch_picks(form: FormData, row_id: int) -> list[dict[str, Any]]:
    ids = form.getlist(f"batch_{row_id}")
    amounts = form.getlist(f"take_{row_id}")
    picks = []
    for b, q in zip(ids, amounts, strict=False):
        try:
            amount = Decimal(str(q or "0"))
        except InvalidOperation:
            raise errors.refuse(
                errors.VALIDATION_FAILED, f"'{q}' is not a quantity.", path="batch_transactions"
            ) from None
        if amount > 0:
            picks.append({"batch_id": int(str(b)), "quantity": amount})
    return picks


@router.post("/make/productions/{prod_id}/delete")
def delete_production(request: Request, db: Db, user: User, prod_id: int) -> Response:
    prod = db.get(Production, prod_id)
    if prod is None:
        return RedirectResponse("/make", status_code=303)
    mo_id = prod.manufacturing_order_id
    _, err = write(
        request, db, lambda s: manufacturing.delete_production(s, get(s, Production, prod_id), user)
    )
    if err:
        return mo_page(request, db, mo_id, error=explain(err))
    return RedirectResponse(f"/make/{mo_id}?done=Production reverted.", status_code=303)


def _when(text: str) -> datetime | None:
    d = form_date(text, "production_deadline_date")
    return datetime.combine(d, time(), UTC) if d else None

"""Buy: the purchase order list, one PO with its receive form and its receipts.

Receiving is one ``purchasing.receive`` call for every row filled in (all or
nothing): batch rows take one or more batch lines (number, expiry, supplier
lot, quantity), serial rows a paste or scans (one per line, ranges, GS1
strings reduced to AI 21) or "generate from the item's pattern". Reverting a
receipt is ``purchasing.revert_receipt``; its refusal (units moved) is shown.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from tracelot.db.models import PurchaseOrderRow, PurchaseReceipt, Variant
from tracelot.domain import errors
from tracelot.domain.serials import expand, split_paste
from tracelot.services import picking, purchasing
from tracelot.services.common import get
from tracelot.web import buy_queries as bq
from tracelot.web.deps import Db, User, explain, form_date, signed_in_router, write
from tracelot.web.paging import paged, url_maker
from tracelot.web.render import HOLDER_PAGES
from tracelot.web.render import page as render
from tracelot.web.render import qty as qty_text

router = signed_in_router()
HOLDER_PAGES[purchasing.ROW] = lambda row_id: f"/buy/rows/{row_id}"


@router.get("/buy")
def po_list(request: Request, db: Db, q: str = "", status: str = "", page: int = 1) -> Response:
    return render(
        request,
        "buy.html",
        "buy",
        pager=paged(db, bq.po_list(q, status), page),
        q=q,
        status=status,
        statuses=bq.STATUSES,
        url=url_maker(request),
    )


@router.get("/buy/rows/{row_id}")
def row_page(db: Db, row_id: int) -> Response:
    row = db.get(PurchaseOrderRow, row_id)
    target = f"/buy/{row.purchase_order_id}#row-{row_id}" if row else "/buy"
    return RedirectResponse(target, status_code=303)


@router.get("/buy/{po_id}")
def po_page(request: Request, db: Db, po_id: int, done: str = "", error: str = "") -> Response:
    head = bq.po_header(db, po_id)
    if head is None:
        return render(
            request, "missing.html", "buy", what=f"Purchase order {po_id}", status_code=404
        )
    return render(
        request,
        "po.html",
        "buy",
        po=head.PurchaseOrder,
        head=head,
        rows=bq.po_rows(db, po_id),
        receipts=bq.receipts(db, po_id),
        flash=done or None,
        error=error or None,
    )


@router.post("/buy/{po_id}/receive")
async def receive(request: Request, db: Db, user: User, po_id: int) -> Response:
    form = await request.form()
    return await run_in_threadpool(_receive, request, db, user, po_id, form)


def _receive(request: Request, db: Db, user: str, po_id: int, form: FormData) -> Response:
    def run(s: Session) -> int:
        items = _receive_items(s, po_id, form)
        if not items:
            raise errors.refuse(
                errors.MISSING,
                "Nothing to receive: fill in a quantity, batches or serial numbers on a row.",
                path="quantity",
            )
        return len(purchasing.receive(s, items, user))

    count, err = write(request, db, run)
    if err:
        return po_page(request, db, po_id, error=explain(err))
    return RedirectResponse(f"/buy/{po_id}?done={count} row(s) received.", status_code=303)


def _receive_items(s: Session, po_id: int, form: FormData) -> list[dict[str, Any]]:
    """One receive item per row the user filled in."""
    items = []
    for row in purchasing.order_rows(s, po_id):
        variant = s.get(Variant, row.variant_id)
        assert variant is not None
        item = _row_item(variant, row, form)
        if item is not None:
            items.append({"purchase_order_row_id": row.id, **item})
    return items


def _row_item(variant: Variant, row: PurchaseOrderRow, form: FormData) -> dict[str, Any] | None:
    """A batch line without a quantity takes the row's quantity (what is still to come
    when that is left blank too); pasted serials count themselves."""
    row_id = row.id
    qty = str(form.get(f"qty_{row_id}") or "").strip()
    tracking = variant.item.tracking
    if tracking == "serial":
        pasted = split_paste(str(form.get(f"serials_{row_id}") or ""))
        lines = [picking.scanned_serial(variant, x) for x in pasted]
        if lines:
            return {"quantity": qty or len(expand(lines)), "serial_numbers": lines}
        if form.get(f"gen_{row_id}") == "yes" and qty:
            return {"quantity": qty, "generate_serials": True}
        return {"quantity": qty} if qty else None
    if tracking == "batch":
        lots = _batch_lines(form, row_id, qty or qty_text(row.quantity - row.received_quantity))
        if not lots and not qty:
            return None
        total = sum((Decimal(str(b["quantity"])) for b in lots), Decimal(0))
        return {"quantity": qty or total, "batch_transactions": lots}
    return {"quantity": qty} if qty else None


def _batch_lines(form: FormData, row_id: int, qty: str) -> list[dict[str, Any]]:
    numbers = form.getlist(f"bn_{row_id}")
    expiries = form.getlist(f"exp_{row_id}")
    lots = form.getlist(f"lot_{row_id}")
    amounts = form.getlist(f"bq_{row_id}")
    filled = [i for i, n in enumerate(numbers) if str(n).strip()]
    out = []
    for i in filled:
        amount = str(amounts[i] if i < len(amounts) else "").strip()
        if not amount and len(filled) == 1:
            amount = qty  # one batch line: it takes the whole received quantity
        out.append(
            {
                "batch_number": str(numbers[i]).strip(),
                "expiration_date": form_date(
                    str(expiries[i] if i < len(expiries) else ""), "expiration_date"
                ),
                "supplier_lot": str(lots[i] if i < len(lots) else "").strip() or None,
                "quantity": _amount(amount),
            }
        )
    return out


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        raise errors.refuse(
            errors.VALIDATION_FAILED, f"'{text}' is not a quantity.", path="batch_transactions"
        ) from None


@router.post("/buy/receipts/{receipt_id}/revert")
def revert(request: Request, db: Db, user: User, receipt_id: int) -> Response:
    receipt = db.get(PurchaseReceipt, receipt_id)
    if receipt is None:
        return RedirectResponse("/buy", status_code=303)
    po_id = receipt.purchase_order_id
    _, err = write(
        request,
        db,
        lambda s: purchasing.revert_receipt(s, get(s, PurchaseReceipt, receipt_id), user),
    )
    if err:
        return po_page(request, db, po_id, error=explain(err))
    return RedirectResponse(f"/buy/{po_id}?done=Receipt {receipt_id} reverted.", status_code=303)

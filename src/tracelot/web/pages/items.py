"""Items: the list, the item card, and changing the tracking setting (SPEC §1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from tracelot.db.models import TrackingArchive
from tracelot.domain.errors import TracelotError
from tracelot.domain.tracking import Tracking, TrackingChange, plan_change
from tracelot.services import catalog, exports
from tracelot.web import queries
from tracelot.web.deps import Db, User, signed_in_router, write
from tracelot.web.paging import paged, url_maker
from tracelot.web.render import CSV, file_response
from tracelot.web.render import page as render

router = signed_in_router()
DONE = {"tracking": "Tracking setting changed."}


@router.get("/items")
def item_list(
    request: Request, db: Db, q: str = "", type: str = "", tracking: str = "", page: int = 1
) -> Response:
    pager = paged(db, queries.items(q, type, tracking), page)
    return render(
        request,
        "items.html",
        "items",
        pager=pager,
        q=q,
        type=type,
        tracking=tracking,
        url=url_maker(request),
    )


@router.get("/items/{item_id}")
def item_card(request: Request, db: Db, item_id: int, done: str = "") -> Response:
    item = catalog.get_item(db, item_id)
    return render(
        request,
        "item.html",
        "items",
        item=item,
        stock=queries.item_stock(db, item),
        archives=queries.archives(db, item.id),
        flash=DONE.get(done),
    )


@router.post("/items/{item_id}/tracking")
def change_tracking(
    request: Request,
    db: Db,
    user: User,
    item_id: int,
    tracking: Annotated[str, Form()],
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """First POST shows what will happen; the confirmed POST carries it out."""
    item = catalog.get_item(db, item_id)
    wanted = Tracking(tracking)
    try:
        plan = plan_change(
            Tracking(item.tracking),
            wanted,
            has_stock=queries.has_stock(db, item),
            confirmed=True,
            has_records=queries.record_counts(db, item) != (0, 0),
            item_name=item.name,
        )
    except TracelotError as exc:
        return _card_with_error(request, db, item, exc)
    if plan is not TrackingChange.NOTHING and not confirm:
        return render(
            request,
            "tracking_confirm.html",
            "items",
            item=item,
            wanted=wanted,
            plan=str(plan),
            effects=queries.tracking_effects(db, item, str(plan)),
        )
    _, err = write(
        request,
        db,
        lambda s: catalog.update_item(
            s,
            catalog.get_item(s, item_id),
            {"tracking": str(wanted), "confirm_remove_tracking": True},
            user,
        ),
    )
    if err:
        return _card_with_error(request, db, item, err)
    return RedirectResponse(f"/items/{item_id}?done=tracking", status_code=303)


def _card_with_error(request: Request, db: Db, item: object, exc: TracelotError) -> Response:
    db.expire_all()
    item = catalog.get_item(db, item.id)  # type: ignore[attr-defined]
    return render(
        request,
        "item.html",
        "items",
        item=item,
        error=exc.message,
        error_code=exc.code,
        stock=queries.item_stock(db, item),
        archives=queries.archives(db, item.id),
    )


@router.get("/items/{item_id}/export.csv")
def export_csv(db: Db, item_id: int) -> Response:
    parts = exports.tracking_csv_parts(db, catalog.get_item(db, item_id))
    return file_response(iter(parts), CSV, f"tracking-{item_id}.csv")


@router.get("/items/{item_id}/archives/{archive_id}")
def archive_csv(db: Db, item_id: int, archive_id: int) -> Response:
    arch = db.get(TrackingArchive, archive_id)
    if arch is None or arch.item_id != item_id:
        return Response("No such archive.", status_code=404)
    return file_response(arch.content, CSV, arch.file_name)

"""Serial numbers: minting many at once, finding them, and their links to documents.

Minting is set-based: one duplicate check per 5,000 numbers and batched
multi-row INSERTs, so 20,000 serials cost a few dozen statements, not 20,000.
A number left behind by a reverted receipt or production (pending, linked to
nothing) can be entered again: minting reuses that serial and keeps its history.
Document modules register how serials link to their rows (``LINKERS``), so
``POST /serial_numbers`` works for every resource type without knowing them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import ColumnElement, and_, delete, exists, insert, select
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models import Serial, SerialTransaction, Variant
from tracelot.db.sql import chunks, table
from tracelot.domain import errors
from tracelot.domain import serials as rules
from tracelot.services import ledger, webhooks
from tracelot.services.common import get

# resource_type -> (link(session, resource_id, numbers, actor) -> serial ids,
#                   unlink(session, resource_id, serial ids, actor) -> None)
Linker = Callable[[Session, int, list[str], str], list[int]]
Unlinker = Callable[[Session, int, list[int], str], None]
LINKERS: dict[str, tuple[Linker, Unlinker]] = {}


def register(resource_type: str, link: Linker, unlink: Unlinker) -> None:
    LINKERS[resource_type] = (link, unlink)


def serial_variant(session: Session, variant_id: int, path: str = "variant_id") -> Variant:
    variant = get(session, Variant, variant_id, "Variant", path=path)
    if variant.item.tracking != "serial":
        raise errors.refuse(
            errors.NOT_SERIAL_TRACKED,
            f"'{variant.item.name}' ({variant.sku}) is not serial-tracked: "
            "turn on serial tracking for the item first.",
            path=path,
        )
    return variant


def _orphan() -> ColumnElement[bool]:
    """A serial that never reached stock or was taken back out by a revert (``pending``)
    and that no document row holds or has minted (no active zero-quantity link)."""
    return and_(
        Serial.status == "pending",
        Serial.holder_type.is_(None),
        ~exists().where(
            SerialTransaction.serial_id == Serial.id,
            SerialTransaction.quantity_change == 0,
            SerialTransaction.is_active.is_(True),
        ),
    )


def mint(
    session: Session, variant: Variant, numbers: Sequence[str], path: str = "serial_numbers"
) -> list[int]:
    """Serials (status pending) for the variant with these numbers; all or none.

    New numbers are created. A number whose serial of this variant is an
    orphan (a reverted receipt or production left it pending, linked to
    nothing) is that serial again, its history kept; any other existing
    number is refused as a duplicate.
    """
    if not numbers:
        return []
    numbers = rules.validate(list(numbers), path)
    taken: list[str] = []
    reused: set[str] = set()
    for part in chunks(numbers):
        found = session.execute(
            select(Serial.serial_number, and_(Serial.variant_id == variant.id, _orphan())).where(
                Serial.item_id == variant.item_id, Serial.serial_number.in_(part)
            )
        ).all()
        for number, reusable in found:
            if reusable:
                reused.add(number)
            else:
                taken.append(number)
    if taken:
        raise errors.refuse_many(
            [
                errors.Detail(
                    path,
                    errors.DUPLICATE,
                    f"Serial number '{n}' already exists for '{variant.item.name}': "
                    "each unit needs its own number.",
                    {"serial_number": n},
                )
                for n in sorted(taken)[:50]
            ]
        )
    now = utcnow()
    rows = [
        {
            "item_id": variant.item_id,
            "variant_id": variant.id,
            "serial_number": n,
            "status": "pending",
            "created_at": now,
            "updated_at": now,
        }
        for n in numbers
        if n not in reused
    ]
    if rows:  # Core, not the ORM's bulk path: one executemany / multi-row INSERT
        session.execute(insert(table(Serial)), rows)
    ids = find(session, variant.item_id, numbers, path)
    created = [i for n, i in zip(numbers, ids, strict=True) if n not in reused]
    webhooks.emit_many(session, "serial_number.created", "serial_number", created, "pending")
    return ids


def mint_on(
    session: Session,
    variant: Variant,
    numbers: list[str],
    resource_type: str,
    resource_id: int,
    *,
    room: int,
    label: str,
    actor: str,
) -> list[int]:
    """Mint serials on a document row that will bring them into stock later (link 0).

    ``room`` is how many more the row can take; ``label`` names it in the refusal.
    """
    numbers = expand_entries(numbers)
    if len(numbers) > room:
        raise errors.refuse(
            errors.QUANTITY_EXCEEDED,
            f"{label} has room for {room} more serial number(s); cannot mint {len(numbers)}.",
            path="serial_numbers",
        )
    ids = mint(session, variant, numbers)
    ledger.link(session, ids, resource_type, resource_id, reason="mint", user=actor)
    return ids


def minted_on(session: Session, resource_type: str, resource_id: int) -> list[Serial]:
    """Serials minted on the row and not in stock yet, first minted first."""
    return list(
        session.scalars(
            select(Serial)
            .join(SerialTransaction, SerialTransaction.serial_id == Serial.id)
            .where(
                SerialTransaction.resource_type == resource_type,
                SerialTransaction.resource_id == resource_id,
                SerialTransaction.quantity_change == 0,
                SerialTransaction.is_active.is_(True),
                Serial.status == "pending",
            )
            .order_by(SerialTransaction.id)
        )
    )


def unmint(
    session: Session, resource_type: str, resource_id: int, ids: list[int], label: str
) -> None:
    """Undo minting on a row for serials that have not reached stock; others are refused."""
    pending = {s.id for s in minted_on(session, resource_type, resource_id)}
    bad = [i for i in ids if i not in pending]
    if bad:
        raise errors.refuse(
            errors.MISSING,
            f"Serial number id {bad[0]} is not minted on {label}, or has reached stock already.",
            path="ids",
        )
    drop_minted(session, resource_type, resource_id, ids)


def drop_minted(session: Session, resource_type: str, resource_id: int, ids: list[int]) -> None:
    """Undo minting on a row: its links go; serials that never had any other link (never
    reached stock) go too, the others stay as orphans with their history."""
    if not ids:
        return
    session.execute(
        delete(SerialTransaction).where(
            SerialTransaction.serial_id.in_(ids),
            SerialTransaction.resource_type == resource_type,
            SerialTransaction.resource_id == resource_id,
            SerialTransaction.quantity_change == 0,
        )
    )
    session.execute(
        delete(Serial).where(
            Serial.id.in_(ids),
            Serial.status == "pending",
            ~exists().where(SerialTransaction.serial_id == Serial.id),
        )
    )


def find(
    session: Session, item_id: int, numbers: Sequence[str], path: str = "serial_numbers"
) -> list[int]:
    """Ids of existing serials of the item, in the order given; unknown ones are refused."""
    found: dict[str, int] = {}
    for part in chunks(list(numbers)):
        found.update(
            session.execute(
                select(Serial.serial_number, Serial.id).where(
                    Serial.item_id == item_id, Serial.serial_number.in_(part)
                )
            ).all()
        )
    missing = [n for n in numbers if n not in found]
    if missing:
        raise errors.refuse_many(
            [
                errors.Detail(
                    path,
                    errors.MISSING,
                    f"Serial number '{n}' does not exist for this item.",
                    {"serial_number": n},
                )
                for n in missing[:50]
            ]
        )
    return [found[n] for n in numbers]


def of_variant(
    session: Session, variant_id: int, serial_ids: Sequence[int], path: str = "serial_numbers"
) -> list[int]:
    """Check that every id is a serial of the variant (refuse others by name)."""
    rows = session.execute(
        select(Serial.id, Serial.variant_id, Serial.serial_number).where(
            Serial.id.in_(list(serial_ids))
        )
    ).all()
    known = {r.id for r in rows}
    details = [
        errors.Detail(path, errors.MISSING, f"Serial number id {i} does not exist.")
        for i in serial_ids
        if i not in known
    ]
    details += [
        errors.Detail(
            path,
            errors.NOT_IN_STOCK,
            f"Serial number '{r.serial_number}' belongs to another item or variant.",
            {"serial_number": r.serial_number},
        )
        for r in rows
        if r.variant_id != variant_id
    ]
    if details:
        raise errors.refuse_many(details)
    return list(serial_ids)


def link(
    session: Session, resource_type: str, resource_id: int, numbers: list[str], actor: str
) -> list[int]:
    if resource_type not in LINKERS:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Serial numbers cannot be linked to "
            f"'{resource_type}'; use one of {', '.join(sorted(LINKERS))}.",
            path="resource_type",
        )
    return LINKERS[resource_type][0](session, resource_id, numbers, actor)


def unlink(
    session: Session, resource_type: str, resource_id: int, ids: list[int], actor: str
) -> None:
    if resource_type not in LINKERS:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            f"Unknown resource_type '{resource_type}'.",
            path="resource_type",
        )
    LINKERS[resource_type][1](session, resource_id, ids, actor)


def expand_entries(entries: list[str]) -> list[str]:
    """Ranges and pastes as users type them (``SN-001..SN-050``)."""
    return rules.expand(entries)

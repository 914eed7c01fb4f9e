"""What a ledger entry's document was: order numbers, customers, suppliers, MOs.

The ledger knows a resource type and id per entry; tracing answers need the
human side (order SO-12 to ACME, ship-to address; PO-7 from the supplier).

Each built-in document type is a ``DocType``: how to reach its context from its
row table by joins, and how to shape the joined columns. ``describe`` answers
many (type, id) pairs in ONE statement, a UNION ALL of one small SELECT per
type present (a query per type cost more than the SQL; one outer join per
document type onto a timeline took PostgreSQL 5-9 ms to plan). Document
modules that are not part of the foundation can still ``register`` a plain
resolver (many ids -> info), which ``describe`` asks too.
"""

from __future__ import annotations

import functools
import itertools
import json
import weakref
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.schema import CreateTable
from sqlalchemy.types import NullType, UserDefinedType

from tracelot.db.models import (
    Customer,
    CustomerAddress,
    Location,
    StockAdjustment,
    StockAdjustmentRow,
    StockTransfer,
    StockTransferRow,
    Supplier,
)
from tracelot.db.models.manufacturing import ManufacturingOrder, Production, ProductionIngredient
from tracelot.db.models.purchasing import PurchaseOrder, PurchaseOrderRow
from tracelot.db.models.sales import (
    SalesOrder,
    SalesOrderFulfillment,
    SalesOrderFulfillmentRow,
    SalesOrderRow,
)

Resolver = Callable[[Session, list[int]], dict[int, dict[str, Any]]]
RESOLVERS: dict[str, Resolver] = {}
ADDRESS_PARTS = ("line_1", "line_2", "city", "state", "zip", "country")


def ids_in(session: Session, column: Any, ids: Collection[int]) -> Any:
    """``column IN ids`` as ONE bound value, however many ids: a JSON array read by
    ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL. A list of thousands
    of ``?`` made SQLite's planner scan a whole table per id (9 s for 5,000 shipments),
    and one parameter keeps the statement text (and its cache entry) the same."""
    values = sorted({int(i) for i in ids})
    if session.get_bind().dialect.name == "sqlite":
        each = func.json_each(json.dumps(values)).table_valued("value")
        return column.in_(select(each.c.value))
    if len(values) > MANY_IDS:
        return column.in_(select(id_table(session, values).c.id))
    return column == any_(bindparam(None, pg_array(values), type_=IdArray()))


class IdArray(UserDefinedType[str]):
    """A ``bigint[]`` parameter sent as its text: PostgreSQL reads it once, as it binds.
    A list is adapted by psycopg element by element in Python (2.1 ms for a trace's 3,500
    serials, against 0.3 ms as text); text CAST to an array in SQL is parsed again for
    every row a sequential scan filters (0.1 s for 1,600 lots against 2,000 rows)."""

    cache_ok = True
    render_bind_cast = True

    def get_col_spec(self, **kw: Any) -> str:
        return "BIGINT[]"


def pg_array(values: list[int]) -> str:
    """Ids as one PostgreSQL array literal, for ``IdArray``."""
    return "{" + ",".join(map(str, values)) + "}"


def large_reads(session: Session) -> None:
    """PostgreSQL: memory to group and sort a report's 100,000s of rows for the rest of
    the transaction (the default 4 MB spilled a recall's sorts to disk)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '64MB'"))


MANY_IDS = 5000


def needs_id_table(session: Session, *sets: Collection[Any]) -> bool:
    """Whether one of the sets is large enough for PostgreSQL's temporary table
    (``ids_in``): a statement built once, the ids bound as an array, then won't do."""
    dialect = session.get_bind().dialect.name
    return dialect == "postgresql" and any(len(ids) > MANY_IDS for ids in sets)


_ID_TABLES = "tracelot_id_tables"  # session.info: transaction -> {ids: temporary table}
_ID_TABLE_NUMBERS = "tracelot_id_table_numbers"  # session.info: names never reused


def id_table(session: Session, values: list[int]) -> Table:
    """PostgreSQL: the ids as a temporary table (primary key, analyzed) that lives until
    the transaction ends, one per distinct set. A recall names its 100,000 reached units
    in six statements: as an array each of them probed an index per id or scanned the
    table (0.2 s each); joined to a table whose size the planner knows, 20-40 ms.
    Known per (sub)transaction: a rolled back SAVEPOINT takes its tables with it."""
    conn = session.connection()
    tx = session.get_nested_transaction() or session.get_transaction()
    tables = session.info.setdefault(_ID_TABLES, weakref.WeakKeyDictionary())
    mine: dict[tuple[int, ...], Table] = tables.setdefault(tx, {})
    key = tuple(values)
    table = mine.get(key)
    if table is None:
        number = session.info.setdefault(_ID_TABLE_NUMBERS, itertools.count())
        table = Table(
            f"tracelot_ids_{next(number)}",
            MetaData(),
            Column("id", BigInteger, primary_key=True),
            prefixes=["TEMPORARY"],
            postgresql_on_commit="DROP",
        )
        conn.execute(CreateTable(table))
        with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
            with cur.copy(f"COPY {table.name} (id) FROM STDIN") as copy:
                copy.write("\n".join(map(str, values)) + "\n")
            cur.execute(f"ANALYZE {table.name}")
        mine[key] = table
    return table


def rows(session: Session, stmt: Any, **params: Any) -> list[Any]:
    """Plain rows through the session's connection, skipping the ORM's result machinery
    (a third of a large trace's time). Flushes first, as ``session.execute`` would."""
    session.flush()
    return list(session.connection().execute(stmt, params or None).all())


def register(resource_type: str) -> Callable[[Resolver], Resolver]:
    """A resolver for a document type this module does not define (many ids -> info)."""

    def wrap(fn: Resolver) -> Resolver:
        RESOLVERS[resource_type] = fn
        return fn

    return wrap


# --- document types ---------------------------------------------------------------------


@dataclass(frozen=True)
class Joins:
    """A document's context reached from its row: outer joins and the columns they give."""

    joins: list[tuple[Any, Any]]  # (target, ON clause), in order
    columns: dict[str, Any]  # raw key -> SQL expression


@dataclass(frozen=True)
class DocType:
    row: Any  # the row table the ledger's resource_id points at
    build: Callable[[Any], Joins]  # row alias -> joins and columns (fresh aliases each call)
    shape: Callable[[dict[str, Any]], dict[str, Any]]  # raw columns -> context keys


DOCS: dict[str, DocType] = {}


def _address(party: Any) -> str | None:
    """``line_1, city, ...`` of an object or mapping with the address parts."""
    get = party.get if isinstance(party, dict) else (lambda k: getattr(party, k, None))
    text = ", ".join(p for p in (get(k) for k in ADDRESS_PARTS) if p)
    return text or None


def _adjustment(row: Any) -> Joins:
    a = aliased(StockAdjustment)
    return Joins(
        [(a, a.id == row.stock_adjustment_id)],
        {"document_id": a.id, "document": a.stock_adjustment_number, "reason": a.reason},
    )


DOCS["StockAdjustmentRow"] = DocType(
    StockAdjustmentRow,
    _adjustment,
    lambda r: {
        "document": r["document"],
        "document_type": "stock_adjustment",
        "document_id": r["document_id"],
        "adjustment_reason": r["reason"],
    },
)


def _transfer(row: Any) -> Joins:
    t = aliased(StockTransfer)
    return Joins(
        [(t, t.id == row.stock_transfer_id)],
        {"document_id": t.id, "document": t.stock_transfer_number},
    )


DOCS["StockTransferRow"] = DocType(
    StockTransferRow,
    _transfer,
    lambda r: {
        "document": r["document"],
        "document_type": "stock_transfer",
        "document_id": r["document_id"],
    },
)


def _purchase(row: Any) -> Joins:
    po, sup = aliased(PurchaseOrder), aliased(Supplier)
    parts = {k: getattr(sup, k) for k in ADDRESS_PARTS if hasattr(sup, k)}
    return Joins(
        [(po, po.id == row.purchase_order_id), (sup, sup.id == po.supplier_id)],
        {
            "document_id": po.id,
            "order_no": po.order_no,
            "supplier_id": sup.id,
            "supplier": sup.name,
            "supplier_phone": sup.phone,
            "supplier_email": sup.email,
            "supplier_gln": sup.gln,
            **parts,
        },
    )


DOCS["PurchaseOrderRow"] = DocType(
    PurchaseOrderRow,
    _purchase,
    lambda r: {
        "document": r["order_no"],
        "order_no": r["order_no"],
        "document_type": "purchase_order",
        "document_id": r["document_id"],
        "supplier_id": r["supplier_id"],
        "supplier": r["supplier"],
        "supplier_phone": r["supplier_phone"],
        "supplier_email": r["supplier_email"],
        "supplier_gln": r["supplier_gln"],
        "supplier_address": _address(r),
    },
)


def _mo(via_ingredient: bool) -> Callable[[Any], Joins]:
    def build(row: Any) -> Joins:
        mo = aliased(ManufacturingOrder)
        joins: list[tuple[Any, Any]] = []
        production = row
        if via_ingredient:
            production = aliased(Production)
            joins.append((production, production.id == row.production_id))
        joins.append((mo, mo.id == production.manufacturing_order_id))
        return Joins(joins, {"mo_id": mo.id, "order_no": mo.order_no})

    return build


def _mo_shape(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "document": r["order_no"],
        "document_type": "manufacturing_order",
        "document_id": r["mo_id"],
        "manufacturing_order_id": r["mo_id"],
        "manufacturing_order_no": r["order_no"],
    }


DOCS["Production"] = DocType(Production, _mo(False), _mo_shape)
DOCS["ProductionIngredient"] = DocType(ProductionIngredient, _mo(True), _mo_shape)


def _sales(fulfilment: bool) -> Callable[[Any], Joins]:
    def build(row: Any) -> Joins:
        so = aliased(SalesOrder)
        joins: list[tuple[Any, Any]] = []
        extra: dict[str, Any] = {"fulfillment_id": literal(None), "delivered_date": literal(None)}
        if fulfilment:
            f = aliased(SalesOrderFulfillment)
            joins += [(f, f.id == row.fulfillment_id), (so, so.id == f.sales_order_id)]
            extra = {"fulfillment_id": f.id, "delivered_date": f.delivered_date}
        else:
            joins.append((so, so.id == row.sales_order_id))
        return Joins(
            joins,
            {"so_id": so.id, "order_no": so.order_no, "customer_id": so.customer_id, **extra},
        )

    return build


def _sales_shape(r: dict[str, Any]) -> dict[str, Any]:
    """The order; its customer's contact and ship-to are added once per customer
    (``_add_customers``): 100,000 shipment lines go to far fewer customers."""
    return sales_context(*(r[k] for k in DELIVERY))


def sales_context(
    so_id: int, order_no: str, customer_id: int | None, fulfillment_id: Any, delivered: Any
) -> dict[str, Any]:
    """A sales document's context keys, unknown ones left out (the order's customer
    details are the caller's to add)."""
    out = {
        "document": order_no,
        "order_no": order_no,
        "document_type": "sales_order",
        "document_id": so_id,
        "sales_order_id": so_id,
    }
    if fulfillment_id is not None:
        out["fulfillment_id"] = fulfillment_id
    if customer_id is not None:
        out["customer_id"] = customer_id
    if delivered is not None:
        out["delivered_date"] = delivered
    return out


DELIVERY = ("so_id", "order_no", "customer_id", "fulfillment_id", "delivered_date")
FULFILMENT_ROW = "SalesOrderFulfillmentRow"


def deliveries(session: Session, row_ids: Collection[int]) -> dict[int, Any]:
    """The order each fulfilment row delivered, as raw columns (``DELIVERY``, the
    arguments of ``sales_context``) by row id. A recall's 100,000s of shipment lines
    are shaped from these one dict each: ``describe`` built four per line. Read by
    their sorted ids, not joined to the lines: in the lines' order the lookups
    missed SQLite's page cache (0.6 s against 0.2 s at scale)."""
    return {r[0]: r[1:] for r in by_ids(session, _deliveries_query, row_ids)} if row_ids else {}


def _deliveries_query(where: Callable[[Any], Any]) -> Any:
    fr = aliased(SalesOrderFulfillmentRow)
    built = _sales(True)(fr)
    q = select(fr.id, *(built.columns[k] for k in DELIVERY)).where(where(fr.id))
    for target, on in built.joins:
        q = q.outerjoin(target, on)
    return q


DOCS["SalesOrderRow"] = DocType(SalesOrderRow, _sales(False), _sales_shape)
DOCS[FULFILMENT_ROW] = DocType(SalesOrderFulfillmentRow, _sales(True), _sales_shape)
NO_CUSTOMER: dict[str, Any] = {}


def _add_customers(session: Session, infos: Iterable[dict[str, Any]]) -> None:
    """Contact and first shipping address of every customer named in ``infos``, one
    query for all of them, merged into each info in place."""
    infos = [i for i in infos if "customer_id" in i]
    found = customers(session, {i["customer_id"] for i in infos if i["customer_id"]})
    for info in infos:
        info.update(found.get(info["customer_id"], NO_CUSTOMER))


def customers(session: Session, ids: set[int]) -> dict[int, dict[str, Any]]:
    """Customer contact columns and the first shipping address (the ship-to of orders):
    ordered by address id, the first row per customer wins."""
    if not ids:
        return {}
    found = by_ids(session, _customers_query, ids)
    out: dict[int, dict[str, Any]] = {}
    for r in found:
        if r[0] in out:
            continue
        cid, name, email, phone, company, address_id, a_phone, a_company, gln, *parts = r
        out[cid] = known(
            {
                "customer": name,
                "customer_email": email,
                "customer_phone": phone or a_phone,
                "ship_to": _address(dict(zip(ADDRESS_PARTS, parts, strict=True)))
                if address_id
                else None,
                "ship_to_company": a_company or company,
                "ship_to_gln": gln,
            }
        )
    return out


def known(info: dict[str, Any]) -> dict[str, Any]:
    """The dict without its unknown (None) values: the report and trace parts that hold
    100,000s of rows are built that way, so their JSON is encoded as it is."""
    return {k: v for k, v in info.items() if v is not None}


def by_ids(
    session: Session, query: Callable[[Callable[[Any], Any]], Any], ids: Collection[int]
) -> list[Any]:
    """The rows of ``query(where)``, ``where(column)`` picking ``ids``: a statement built
    once per dialect with the ids bound as one value, or for a set too large for that,
    built with an id table (see ``id_table``)."""
    if needs_id_table(session, ids):
        return rows(session, query(lambda c: ids_in(session, c, ids)))
    statement = _by_ids_cached(query, session.get_bind().dialect.name)
    return rows(session, statement, ids=ids_value(session, ids))


@functools.cache
def _by_ids_cached(query: Callable[[Callable[[Any], Any]], Any], dialect: str) -> Any:
    return query(lambda c: ids_param(dialect, c, "ids"))


def _customers_query(where: Callable[[Any], Any]) -> Any:
    c, a = Customer, CustomerAddress
    return (
        select(c.id, c.name, c.email, c.phone, c.company, a.id, a.phone, a.company, a.gln)
        .add_columns(*(getattr(a, k) for k in ADDRESS_PARTS))
        .outerjoin(a, (a.customer_id == c.id) & (a.entity_type == "shipping"))
        .where(where(c.id))
        .order_by(c.id, a.id)
    )


# --- many ids of one type ---------------------------------------------------------------


def ids_value(session: Session, ids: Iterable[int]) -> Any:
    """The bound value ``ids_param`` expects: JSON text on SQLite, an array literal on PG."""
    values = sorted({int(i) for i in ids})
    return json.dumps(values) if session.get_bind().dialect.name == "sqlite" else pg_array(values)


def ids_param(dialect: str, column: Any, name: str) -> Any:
    """``ids_in`` with a named parameter, for statements built once and run many times."""
    if dialect == "sqlite":
        each = func.json_each(bindparam(name, type_=String)).table_valued("value")
        return column.in_(select(each.c.value))
    return column == any_(bindparam(name, type_=IdArray()))


@functools.cache
def _describing(dialect: str, types: tuple[str, ...]) -> tuple[Any, list[str]]:
    """UNION ALL of one SELECT per document type (its rows' ids joined to the documents),
    every key any of them gives as a column (NULL of the right type where a type has
    none), the ids of type i bound as ``ids_i``. On SQLite ``describe`` asks it for
    every type at once: one statement built and compiled once, where one per mix of
    types met a compilation (5-10 ms) the first time each mix came up, the slowest
    twentieth of a server's serial histories."""
    return _describe_query(types, lambda i, row: ids_param(dialect, row.id, f"ids_{i}"))


def _describe_query(
    types: tuple[str, ...], where: Callable[[int, Any], Any]
) -> tuple[Any, list[str]]:
    """``_describing`` with each type's rows picked by ``where(i, row table)``."""
    built = {t: DOCS[t].build(DOCS[t].row) for t in types}
    sql_types: dict[str, Any] = {}
    for b in built.values():
        for k, col in b.columns.items():
            if k not in sql_types or isinstance(sql_types[k], NullType):
                sql_types[k] = col.type
    parts = []
    for i, (t, b) in enumerate(built.items()):
        row = DOCS[t].row
        cols = [
            b.columns[k].label(k) if k in b.columns else _null(sql_types[k]).label(k)
            for k in sql_types
        ]
        q = select(literal(t).label("rtype"), row.id.label("rid"), *cols).select_from(row)
        for target, on in b.joins:
            q = q.outerjoin(target, on)
        parts.append(q.where(where(i, row)))
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    return query, list(sql_types)


def _null(sql_type: Any) -> Any:
    return null() if isinstance(sql_type, NullType) else cast(null(), sql_type)


def describe(
    session: Session, refs: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """Context of many (resource type, id) pairs: one statement for all the built-in
    document types present, one per registered resolver. Unknown values are left out
    (callers read with ``get``; a recall merges them into 100,000s of lines as they are)."""
    refs = refs if isinstance(refs, Collection) else list(refs)
    # A set per type by comprehension (one or two types, 100,000s of refs in a recall).
    by_type = {t: {i for rt, i in refs if rt == t} for t in {rt for rt, _ in refs}}
    out: dict[tuple[str, int], dict[str, Any]] = {}
    types = tuple(sorted(t for t in by_type if t in DOCS))
    if types:
        dialect = session.get_bind().dialect.name
        params: dict[str, Any] = {}
        if needs_id_table(session, *(by_type[t] for t in types)):
            query, columns = _describe_query(  # a recall's 100,000 rows: see ``id_table``
                types, lambda i, row: ids_in(session, row.id, by_type[types[i]])
            )
        else:
            # SQLite: one statement for every kind, compiled once (absent kinds get no
            # ids), but for a report's 100,000s of rows, whose columns of absent kinds cost
            # more to fetch than a compilation (a recall's documents: 630 ms against 360).
            # PostgreSQL plans each execution's custom plan: there a statement per
            # mix of kinds (planning the empty parts doubled a history's documents read).
            large = any(len(by_type[t]) > MANY_IDS for t in types)
            every = tuple(sorted(DOCS)) if dialect == "sqlite" and not large else types
            query, columns = _describing(dialect, every)
            params = {
                f"ids_{i}": ids_value(session, by_type.get(t, ())) for i, t in enumerate(every)
            }
        shaped: dict[tuple[Any, ...], dict[str, Any]] = {}
        shapes = {t: DOCS[t].shape for t in DOCS}
        for row in rows(session, query, **params):
            # Rows of one document share its context: shaped once and shared (a recall's
            # 100,000 delivery rows come from far fewer orders). Callers only read it.
            key = row[:1] + row[2:]  # slices of a row are tuples: no unpacking per row
            info = shaped.get(key)
            if info is None:
                raw = dict(zip(columns, row[2:], strict=True))
                info = shaped[key] = known(shapes[row[0]](raw))
            out[row[:2]] = info
        _add_customers(session, shaped.values())
    for rtype, ids in by_type.items():
        fn = RESOLVERS.get(rtype) if rtype not in DOCS else None
        for rid, info in (fn(session, sorted(ids)) if fn else {}).items():
            out[(rtype, rid)] = info
    return out


# --- events -----------------------------------------------------------------------------


def location_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the locations (few: a plain IN list)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    q = select(Location.id, Location.name).where(Location.id.in_(wanted))
    return {i: name for i, name in session.execute(q)}


def enrich_locations(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each row's location name (one query for all rows)."""
    names = location_names(session, [r.get("location_id") for r in rows])
    for r in rows:
        r["location"] = names.get(r.get("location_id") or 0)
    return rows


def customer_of(resource_type: Any, resource_id: Any) -> Any:
    """The customer a shipping row went to, as a correlated lookup by primary keys (to
    count a trace's customers in SQL without describing every shipment)."""
    fr, f, so = SalesOrderFulfillmentRow, SalesOrderFulfillment, SalesOrder
    return (
        select(so.customer_id)
        .select_from(fr)
        .join(f, f.id == fr.fulfillment_id)
        .join(so, so.id == f.sales_order_id)
        .where(resource_type == "SalesOrderFulfillmentRow", fr.id == resource_id)
        .scalar_subquery()
    )

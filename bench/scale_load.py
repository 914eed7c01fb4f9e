"""Set-based loader for the large database of ``make bench-scale``.

At scale 1.0: 1,000,000 serials, 10,000,000 movements, 200,000 sales orders,
2,000 batches in 5 genealogy levels (plus 100,000 serials of a final product
made from the last level, so that one common lot reaches 100,000 serials).
Every row is written by ``INSERT ... SELECT`` over a number table (``bench_seq``,
filled by ``generate_series`` on PostgreSQL and a recursive CTE on SQLite) with
ids computed arithmetically, so loading costs a few dozen statements however
large the scale. The catalog (items, variants, locations, customers) goes
through the services; the ledger rows are shaped as ``ledger.post`` writes them.

The story: serials arrive in receipts of 1,000; sales orders 1..O/2 each take
5 serials (held by the order row, shipped by one DELIVERED fulfilment row;
the last 2% not shipped yet, half of those with serials still missing),
orders O/2+1..O each take 20 units of a level-4 batch; level-0 lots are
received, levels 1-4 are produced from three lots of the level below
(level-1 batches all use lot L0-00001, the "common ingredient"); untracked
filler movements bring the ledger to its size. Stock is then summed from the
movements, so cached stock equals the ledger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from bench.common import console
from tracelot.db.engine import make_sessionmaker, transaction
from tracelot.services import catalog

SERIAL_VARIANTS = 5  # FINAL + 4 others: at scale 1 each other variant has 125,000 in stock
FILLER_VARIANTS = 50
LEVELS = 5
TS = "2025-01-01 00:00:00"


@dataclass(frozen=True)
class Plan:
    scale: float

    def n(self, full: int, least: int = 1) -> int:
        return max(least, round(full * self.scale))

    @property
    def serials(self) -> int:
        return self.n(1_000_000, 10_000) // 1000 * 1000

    @property
    def orders(self) -> int:
        return self.n(200_000, 1000) // 100 * 100

    @property
    def serial_orders(self) -> int:
        return self.orders // 2

    @property
    def open_from(self) -> int:
        """Serial orders from this one on are not shipped yet (the last 2%)."""
        return self.serial_orders - self.serial_orders // 50 + 1

    @property
    def per_level(self) -> int:
        return self.n(2000, 50) // LEVELS

    @property
    def final_serials(self) -> int:
        return min(self.n(100_000, 1000) // 1000 * 1000, self.serials)

    @property
    def movements(self) -> int:
        return self.n(10_000_000, 100_000)

    @property
    def seq(self) -> int:
        """Rows of the number table: enough for every single INSERT ... SELECT."""
        return max(self.serials, self.orders, min(self.movements, 1_000_000), 1000)

    @property
    def customers(self) -> int:
        return self.n(20_000, 100)


@dataclass
class Ids:
    loc: int
    customers: int  # first customer id
    serial_items: list[tuple[int, int]]  # (item_id, variant_id); index 0 = FINAL
    level_items: list[tuple[int, int]]  # per genealogy level
    filler_variants: list[int]


def load(engine: Engine, plan: Plan) -> Ids:
    ids = _catalog(engine, plan)
    steps = [
        _seq,
        _serials,
        _batches,
        _genealogy,
        _orders,
        _movements,
        _serial_transactions,
        _filler,
        _stock,
    ]
    for step in steps:
        t = time.perf_counter()
        with engine.begin() as conn:
            step(conn, plan, ids)
        console.print(f"  [dim]load[/] {step.__name__.strip('_')}: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    if engine.dialect.name == "postgresql":
        # A live database is autovacuumed: its visibility map lets index-only scans skip
        # the heap. Right after a bulk load nothing is marked yet, so measure after a
        # VACUUM (outside a transaction, as PostgreSQL requires), not before.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in (
                "movements",
                "serials",
                "serial_transactions",
                "batches",
                "genealogy",
                "sales_orders",
                "sales_order_rows",
                "stock",
                "sales_order_fulfillments",
                "sales_order_fulfillment_rows",
                "customers",
                "batch_picks",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
                )
        else:
            conn.execute(text("ANALYZE"))
    console.print(f"  [dim]load[/] vacuum/analyze: {time.perf_counter() - t:.1f} s")
    return ids


def _catalog(engine: Engine, plan: Plan) -> Ids:
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        loc = catalog.save_location(s, None, {"name": "Main"}).id
        catalog.save_location(s, None, {"name": "Second"})

        def item(name: str, tracking: str) -> tuple[int, int]:
            it = catalog.create_item(
                s, "product", {"name": name, "tracking": tracking, "variants": [{"sku": name}]}
            )
            return it.id, it.variants[0].id

        serial_items = [item("FINAL", "serial")] + [
            item(f"SP-{k}", "serial") for k in range(1, SERIAL_VARIANTS)
        ]
        level_items = [item(f"L{k}", "batch") for k in range(LEVELS)]
        filler = [item(f"U-{k}", "none")[1] for k in range(FILLER_VARIANTS)]
        first_customer = catalog.save_customer(s, None, {"name": "Customer 1"}).id
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, name, email, created_at, updated_at)"
                " SELECT :c + i, 'Customer ' || CAST(i + 1 AS VARCHAR(12)),"
                " 'c' || CAST(i AS VARCHAR(12)) || '@example.com', :ts, :ts"
                " FROM (" + _series(engine.dialect.name, plan.customers - 1) + ") AS s"
            ),
            {"c": first_customer, "ts": TS},
        )
    return Ids(loc, first_customer, serial_items, level_items, filler)


def _series(dialect: str, n: int) -> str:
    """1..n as column i, before bench_seq exists (only for small n)."""
    if dialect == "postgresql":
        return f"SELECT generate_series(1, {n}) AS i"
    return (
        f"WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {n})"
        " SELECT i FROM r"
    )


def _seq(conn: Connection, plan: Plan, ids: Ids) -> None:
    """A number table 1..1,000,000 (times the scale, at least the largest count needed)."""
    n = plan.seq
    conn.execute(text("CREATE TABLE bench_seq (i INTEGER PRIMARY KEY)"))
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"INSERT INTO bench_seq SELECT generate_series(1, {n})"))
    else:
        conn.execute(text(f"INSERT INTO bench_seq (i) {_series('sqlite', n)}"))


def _serial_variant_expr(ids: Ids, plan: Plan, col: str, what: str) -> str:
    """FINAL for the first final_serials, then blocks of 5 over the other variants."""
    k = len(ids.serial_items) - 1
    others = " ".join(
        f"WHEN {j} THEN {ids.serial_items[j + 1][0 if what == 'item' else 1]}" for j in range(k)
    )
    final = ids.serial_items[0][0 if what == "item" else 1]
    return (
        f"CASE WHEN {col} <= {plan.final_serials} THEN {final} ELSE"
        f" CASE (({col} - 1) / 1000) % {k} {others} END END"
    )


def pad(conn: Connection, col: str, width: int) -> str:
    """Zero-padded number as text (SQLite has no lpad)."""
    if conn.dialect.name == "postgresql":
        return f"lpad(CAST({col} AS TEXT), {width}, '0')"
    return f"substr('{'0' * width}' || {col}, -{width}, {width})"


def _serials(conn: Connection, plan: Plan, ids: Ids) -> None:
    sold = plan.serial_orders * 5
    open_first = (plan.open_from - 1) * 5 + 1
    conn.execute(
        text(
            "INSERT INTO serials (id, item_id, variant_id, serial_number, status, location_id,"
            " holder_type, holder_id, created_at, updated_at)"
            f" SELECT i, {_serial_variant_expr(ids, plan, 'i', 'item')},"
            f" {_serial_variant_expr(ids, plan, 'i', 'variant')},"
            f" 'SN-' || {pad(conn, 'i', 8)},"
            f" CASE WHEN i < {open_first} THEN 'delivered'"
            f" WHEN i <= {sold} AND ((i - 1) / 5) % 2 = 0 THEN 'reserved' ELSE 'in_stock' END,"
            f" CASE WHEN i < {open_first} THEN NULL ELSE {ids.loc} END,"
            f" CASE WHEN i >= {open_first} AND i <= {sold} AND ((i - 1) / 5) % 2 = 0"
            "  THEN 'SalesOrderRow' END,"
            f" CASE WHEN i >= {open_first} AND i <= {sold} AND ((i - 1) / 5) % 2 = 0"
            "  THEN (i - 1) / 5 + 1 END, :ts, :ts"
            f" FROM bench_seq WHERE i <= {plan.serials}"
        ),
        {"ts": TS},
    )


def batch_id(plan: Plan, level: int, j: int) -> int:
    return level * plan.per_level + j + 1


def _batches(conn: Connection, plan: Plan, ids: Ids) -> None:
    """Expiry spread from 30 days ago to two years out (some expired, some expiring)."""
    nb = plan.per_level
    for level, (_, variant) in enumerate(ids.level_items):
        day = (
            "date('now', '-30 day', '+' || CAST(i * 760 / :nb AS VARCHAR(8)) || ' day')"
            if conn.dialect.name == "sqlite"
            else "(CURRENT_DATE - 30 + (i * 760 / :nb))"
        )
        conn.execute(
            text(
                "INSERT INTO batches (id, variant_id, batch_number, expiration_date,"
                " batch_created_date, created_at, updated_at)"
                f" SELECT {level * nb} + i, :v,"
                f" 'L{level}-' || {pad(conn, 'i', 5)}, {day}, :ts, :ts, :ts"
                f" FROM bench_seq WHERE i <= :nb"
            ),
            {"v": variant, "nb": nb, "ts": TS},
        )


def _genealogy(conn: Connection, plan: Plan, ids: Ids) -> None:
    """Levels 1-4 from three lots below (level 1: lot 1 of level 0 always); FINAL serials
    from level-4 batches."""
    nb = plan.per_level
    for level in range(1, LEVELS):
        out_v, in_v = ids.level_items[level][1], ids.level_items[level - 1][1]
        offsets = ["0", "1", "NULL"] if level == 1 else ["0", "1", "7"]
        for off in offsets:
            inp = (
                f"{(level - 1) * nb + 1}"
                if off == "NULL"
                else f"{(level - 1) * nb} + ((i - 1 + {off}) % {nb}) + 1"
            )
            conn.execute(
                text(
                    "INSERT INTO genealogy (output_variant_id, output_batch_id, input_variant_id,"
                    " input_batch_id, quantity, resource_type, resource_id, created_at)"
                    f" SELECT {out_v}, {level * nb} + i, {in_v}, {inp}, 100, 'Production',"
                    f" {level * nb} + i, :ts FROM bench_seq WHERE i <= {nb}"
                ),
                {"ts": TS},
            )
    final_v, l4_v = ids.serial_items[0][1], ids.level_items[-1][1]
    conn.execute(
        text(
            "INSERT INTO genealogy (output_variant_id, output_serial_id, input_variant_id,"
            " input_batch_id, quantity, resource_type, resource_id, created_at)"
            f" SELECT {final_v}, i, {l4_v}, {(LEVELS - 1) * nb} + ((i - 1) % {nb}) + 1, 1,"
            f" 'Production', 100000000 + (i - 1) % {nb}, :ts"
            f" FROM bench_seq WHERE i <= {plan.final_serials}"
        ),
        {"ts": TS},
    )


def _orders(conn: Connection, plan: Plan, ids: Ids) -> None:
    so, nb = plan.serial_orders, plan.per_level
    l4 = ids.level_items[-1][1]
    status = (
        f"CASE WHEN i >= {plan.open_from} AND i <= {so} THEN 'NOT_SHIPPED' ELSE 'DELIVERED' END"
    )
    tracing = (
        f"CASE WHEN i > {so} THEN 'not_required' WHEN i >= {plan.open_from}"
        " AND i % 2 = 0 THEN 'missing' ELSE 'complete' END"
    )
    missing = f"CASE WHEN i >= {plan.open_from} AND i <= {so} AND i % 2 = 0 THEN 5 ELSE 0 END"
    conn.execute(
        text(
            "INSERT INTO sales_orders (id, order_no, customer_id, location_id, status,"
            " order_created_date, delivery_date, tracing_status, missing_serial_numbers,"
            " created_at, updated_at)"
            f" SELECT i, 'SO-' || CAST(i AS VARCHAR(12)), {ids.customers} + i % {plan.customers},"
            f" {ids.loc}, {status}, :ts, :ts, {tracing}, {missing}, :ts, :ts"
            f" FROM bench_seq WHERE i <= {plan.orders}"
        ),
        {"ts": TS},
    )
    variant = _serial_variant_expr(ids, plan, "((i - 1) * 5 + 1)", "variant")
    conn.execute(
        text(
            "INSERT INTO sales_order_rows (id, sales_order_id, variant_id, quantity, location_id,"
            " fulfilment, tracing_status, traced_quantity, missing_serial_numbers, created_at,"
            " updated_at)"
            f" SELECT i, i, CASE WHEN i <= {so} THEN {variant} ELSE {l4} END,"
            f" CASE WHEN i <= {so} THEN 5 ELSE 20 END, {ids.loc}, 'stock', {tracing},"
            f" CASE WHEN i <= {so} THEN 5 - ({missing}) ELSE 0 END, {missing}, :ts, :ts"
            f" FROM bench_seq WHERE i <= {plan.orders}"
        ),
        {"ts": TS},
    )
    shipped = f"(i < {plan.open_from} OR i > {so})"
    conn.execute(
        text(
            "INSERT INTO sales_order_fulfillments (id, sales_order_id, status, picked_date,"
            " delivered_date, created_at, updated_at) SELECT i, i, 'DELIVERED', :ts, :ts, :ts, :ts"
            f" FROM bench_seq WHERE i <= {plan.orders} AND {shipped}"
        ),
        {"ts": TS},
    )
    conn.execute(
        text(
            "INSERT INTO sales_order_fulfillment_rows (id, fulfillment_id, sales_order_row_id,"
            f" quantity) SELECT i, i, i, CASE WHEN i <= {so} THEN 5 ELSE 20 END"
            f" FROM bench_seq WHERE i <= {plan.orders} AND {shipped}"
        )
    )
    conn.execute(
        text(
            "INSERT INTO batch_picks (resource_type, resource_id, batch_id, quantity)"
            f" SELECT 'SalesOrderRow', i, {(LEVELS - 1) * nb} + (i % {nb}) + 1, 20"
            f" FROM bench_seq WHERE i > {so} AND i <= {plan.orders}"
        )
    )


def movement_ids(plan: Plan) -> dict[str, int]:
    """First id of each block of movements (contiguous, in this order)."""
    receipts = plan.serials // 1000
    blocks = {"receipt": 1, "delivery": 1 + receipts}
    blocks["batch_in"] = blocks["delivery"] + plan.serial_orders
    blocks["consume"] = blocks["batch_in"] + LEVELS * plan.per_level
    blocks["batch_out"] = blocks["consume"] + 3 * (LEVELS - 1) * plan.per_level
    blocks["filler"] = blocks["batch_out"] + plan.orders - plan.serial_orders
    return blocks


MOVE_COLS = (
    "INSERT INTO movements (id, variant_id, location_id, batch_id, quantity,"
    " balance_after, reason, resource_type, resource_id, document, caused_by_order_no,"
    ' "user", movement_date, created_at)'
)


def _movements(conn: Connection, plan: Plan, ids: Ids) -> None:
    m, nb, so = movement_ids(plan), plan.per_level, plan.serial_orders
    variant = _serial_variant_expr(ids, plan, "((i - 1) * 1000 + 1)", "variant")
    conn.execute(
        text(
            MOVE_COLS + f" SELECT {m['receipt']} - 1 + i, {variant}, {ids.loc}, NULL, 1000, 0,"
            " 'adjustment', 'StockAdjustmentRow', i, 'SA-' || CAST(i AS VARCHAR(12)), NULL,"
            f" 'bench', :ts, :ts FROM bench_seq WHERE i <= {plan.serials // 1000}"
        ),
        {"ts": TS},
    )
    variant = _serial_variant_expr(ids, plan, "((i - 1) * 5 + 1)", "variant")
    conn.execute(
        text(
            MOVE_COLS + f" SELECT {m['delivery']} - 1 + i, {variant}, {ids.loc}, NULL, -5, 0,"
            " 'delivery', 'SalesOrderFulfillmentRow', i, 'SO-' || CAST(i AS VARCHAR(12)),"
            " 'SO-' || CAST(i AS VARCHAR(12)), 'bench', :ts, :ts"
            f" FROM bench_seq WHERE i < {plan.open_from}"
        ),
        {"ts": TS},
    )
    sold_per_batch = 20 * (-(-(plan.orders - so) // nb)) + 1000
    for level, (_, v) in enumerate(ids.level_items):
        qty = sold_per_batch if level == LEVELS - 1 else 1000
        reason, rtype = (
            ("adjustment", "StockAdjustmentRow") if level == 0 else ("production", "Production")
        )
        conn.execute(
            text(
                MOVE_COLS + f" SELECT {m['batch_in'] + level * nb} - 1 + i, {v}, {ids.loc},"
                f" {level * nb} + i, {qty}, 0, '{reason}', '{rtype}', {level * nb} + i, NULL, NULL,"
                f" 'bench', :ts, :ts FROM bench_seq WHERE i <= {nb}"
            ),
            {"ts": TS},
        )
    conn.execute(
        text(  # consumption: one movement per genealogy edge between batches
            MOVE_COLS + f" SELECT {m['consume']} - 1 + ROW_NUMBER() OVER (ORDER BY g.id),"
            f" g.input_variant_id, {ids.loc}, g.input_batch_id, -g.quantity, 0, 'consumption',"
            " 'Production', g.resource_id, NULL, NULL, 'bench', :ts, :ts FROM genealogy g"
            " WHERE g.output_batch_id IS NOT NULL"
        ),
        {"ts": TS},
    )
    l4 = ids.level_items[-1][1]
    conn.execute(
        text(
            MOVE_COLS + f" SELECT {m['batch_out']} - 1 + i - {so}, {l4}, {ids.loc},"
            f" {(LEVELS - 1) * nb} + (i % {nb}) + 1, -20, 0, 'delivery',"
            " 'SalesOrderFulfillmentRow', i,"
            " 'SO-' || CAST(i AS VARCHAR(12)), 'SO-' || CAST(i AS VARCHAR(12)), 'bench', :ts, :ts"
            f" FROM bench_seq WHERE i > {so} AND i <= {plan.orders}"
        ),
        {"ts": TS},
    )


def _serial_transactions(conn: Connection, plan: Plan, ids: Ids) -> None:
    m = movement_ids(plan)
    cols = (
        "INSERT INTO serial_transactions (serial_id, movement_id, resource_type,"
        ' resource_id, quantity_change, is_active, reason, "user", transaction_date)'
    )
    made = f"i <= {plan.final_serials}"  # FINAL units enter by the production of genealogy
    conn.execute(
        text(
            cols + f" SELECT i, {m['receipt']} + (i - 1) / 1000,"
            f" CASE WHEN {made} THEN 'Production' ELSE 'StockAdjustmentRow' END,"
            f" CASE WHEN {made} THEN 100000000 + (i - 1) % {plan.per_level}"
            " ELSE (i - 1) / 1000 + 1 END, 1, TRUE,"
            f" CASE WHEN {made} THEN 'production' ELSE 'adjustment' END, 'bench', :ts"
            f" FROM bench_seq WHERE i <= {plan.serials}"
        ),
        {"ts": TS},
    )
    held = f"(i < {(plan.open_from - 1) * 5 + 1} OR ((i - 1) / 5) % 2 = 0)"
    conn.execute(
        text(
            cols + " SELECT i, NULL, 'SalesOrderRow', (i - 1) / 5 + 1, 0, TRUE, 'hold', 'bench',"
            f" :ts FROM bench_seq WHERE i <= {plan.serial_orders * 5} AND {held}"
        ),
        {"ts": TS},
    )
    conn.execute(
        text(
            cols + f" SELECT i, {m['delivery']} + (i - 1) / 5, 'SalesOrderFulfillmentRow',"
            " (i - 1) / 5 + 1,"
            " -1, TRUE, 'delivery', 'bench', :ts"
            f" FROM bench_seq WHERE i <= {(plan.open_from - 1) * 5}"
        ),
        {"ts": TS},
    )


def _filler(conn: Connection, plan: Plan, ids: Ids) -> None:
    """Untracked movements (adjustments in, deliveries out) up to the ledger's size."""
    first = movement_ids(plan)["filler"]
    total = plan.movements - first + 1
    if total <= 0:
        return
    k = len(ids.filler_variants)
    variants = " ".join(f"WHEN {j} THEN {v}" for j, v in enumerate(ids.filler_variants))
    rounds = -(-total // plan.seq)
    per = -(-total // rounds)
    for r in range(rounds):
        n = min(per, total - r * per)
        base = first + r * per
        conn.execute(
            text(
                MOVE_COLS + f" SELECT {base} - 1 + i, CASE i % {k} {variants} END, {ids.loc},"
                " NULL, CASE WHEN i % 3 = 0 THEN -1 ELSE 2 END, 0,"
                " CASE WHEN i % 3 = 0 THEN 'delivery' ELSE 'adjustment' END,"
                " CASE WHEN i % 3 = 0 THEN 'SalesOrderFulfillmentRow'"
                " ELSE 'StockAdjustmentRow' END,"
                f" {plan.orders} + {base} + i, NULL, NULL, 'bench', :ts, :ts"
                f" FROM bench_seq WHERE i <= {n}"
            ),
            {"ts": TS},
        )


def _stock(conn: Connection, plan: Plan, ids: Ids) -> None:
    conn.execute(
        text(
            "INSERT INTO stock (variant_id, location_id, batch_id, batch_key, quantity)"
            " SELECT variant_id, location_id, batch_id, COALESCE(batch_id, 0), SUM(quantity)"
            " FROM movements GROUP BY variant_id, location_id, batch_id"
        )
    )


def counts(conn: Connection) -> dict[str, Any]:
    return {
        t: conn.scalar(text(f"SELECT count(*) FROM {t}"))
        for t in (
            "movements",
            "serials",
            "serial_transactions",
            "sales_orders",
            "batches",
            "genealogy",
        )
    }

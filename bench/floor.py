"""The floor: W1's phases as bare SQL on SQLite — the least database work they need.

Same schema (created from the models, so the same indexes are maintained),
same data shape, same transactions (one per receipt, one per order), but no
rules, no ORM, no HTTP: executemany inserts and single set-based UPDATEs.
Its sales orders live in two minimal tables of its own (``floor_*``), so the
floor does not depend on how the sales capability models them.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import create_engine

import tracelot.db.models  # noqa: F401
from bench.common import Run, Sizes, sample, sqlite_size_mib, sqlite_url, timed
from tracelot.db.base import Base

ORDER_DDL = [
    "CREATE TABLE floor_orders (id INTEGER PRIMARY KEY, order_no TEXT, customer_id INTEGER,"
    " location_id INTEGER, status TEXT)",
    "CREATE TABLE floor_order_rows (id INTEGER PRIMARY KEY, sales_order_id INTEGER,"
    " variant_id INTEGER, quantity NUMERIC)",
    "CREATE INDEX ix_floor_order_rows_order ON floor_order_rows (sales_order_id)",
]
ROW = "SalesOrderRow"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@contextmanager
def tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        yield cur
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


class Floor:
    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.url = sqlite_url("floor")
        engine = create_engine(self.url)
        Base.metadata.create_all(engine)
        engine.dispose()
        self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
            self.conn.execute(f"PRAGMA {pragma}")
        for ddl in ORDER_DDL:
            self.conn.execute(ddl)
        self.run = Run("floor", f"SQLite {sqlite3.sqlite_version} (file, WAL)")
        self._setup()

    def _setup(self) -> None:
        t = now()
        with tx(self.conn) as c:
            c.execute(
                "INSERT INTO locations (name, is_primary, sales_allowed, purchase_allowed,"
                " manufacturing_allowed, created_at, updated_at) VALUES ('Main',1,1,1,1,?,?)",
                (t, t),
            )
            self.loc = c.lastrowid
            c.execute(
                "INSERT INTO customers (name, created_at, updated_at) VALUES ('C',?,?)", (t, t)
            )
            self.customer = c.lastrowid
            self.s_item, self.s_var = self._item(c, "S", "serial", t)
            self.b_item, self.b_var = self._item(c, "B", "batch", t)

    def _item(self, c: sqlite3.Cursor, name: str, tracking: str, t: str) -> tuple[int, int]:
        c.execute(
            "INSERT INTO items (name, type, tracking, uom, is_sellable, is_producible,"
            " is_purchasable, is_archived, created_at, updated_at)"
            " VALUES (?, 'product', ?, 'pcs', 1, 0, 1, 0, ?, ?)",
            (name, tracking, t, t),
        )
        item = c.lastrowid
        c.execute(
            "INSERT INTO variants (item_id, sku, created_at, updated_at) VALUES (?,?,?,?)",
            (item, name + "-1", t, t),
        )
        return int(item), int(c.lastrowid)  # type: ignore[arg-type]

    def _adjustment(self, c: sqlite3.Cursor, variant: int, qty: int, t: str) -> int:
        c.execute(
            "INSERT INTO stock_adjustments (stock_adjustment_number, location_id,"
            " stock_adjustment_date, created_at, updated_at) VALUES ('SA',?,?,?,?)",
            (self.loc, t, t, t),
        )
        adj = c.lastrowid
        c.execute(
            "INSERT INTO stock_adjustment_rows (stock_adjustment_id, variant_id, quantity,"
            " connects_existing) VALUES (?,?,?,0)",
            (adj, variant, qty),
        )
        return int(c.lastrowid)  # type: ignore[arg-type]

    def _movement(
        self,
        c: sqlite3.Cursor,
        variant: int,
        batch: int | None,
        qty: int,
        reason: str,
        rtype: str,
        rid: int,
        t: str,
    ) -> int:
        c.execute(
            "INSERT INTO movements (variant_id, location_id, batch_id, quantity,"
            " balance_after, reason, resource_type, resource_id, user, movement_date,"
            " created_at) VALUES (?,?,?,?,0,?,?,?,'bench',?,?)",
            (variant, self.loc, batch, qty, reason, rtype, rid, t, t),
        )
        return int(c.lastrowid)  # type: ignore[arg-type]

    def receive_serials(self) -> None:
        s = self.sizes
        with timed("receive-serials", s.serials, "serials", self.run):
            for r in range(s.receipts):
                t = now()
                first = r * s.serials_per_receipt + 1
                numbers = [f"SN-{i:06d}" for i in range(first, first + s.serials_per_receipt)]
                with tx(self.conn) as c:
                    row = self._adjustment(c, self.s_var, s.serials_per_receipt, t)
                    c.executemany(
                        "INSERT INTO serials (item_id, variant_id, serial_number, status,"
                        " location_id, created_at, updated_at) VALUES (?,?,?,'in_stock',?,?,?)",
                        [(self.s_item, self.s_var, n, self.loc, t, t) for n in numbers],
                    )
                    self._stock(c, self.s_var, None, s.serials_per_receipt)
                    mv = self._movement(
                        c,
                        self.s_var,
                        None,
                        s.serials_per_receipt,
                        "adjustment",
                        "StockAdjustmentRow",
                        row,
                        t,
                    )
                    c.execute(
                        "INSERT INTO serial_transactions (serial_id, movement_id,"
                        " resource_type, resource_id, quantity_change, is_active, reason,"
                        " user, transaction_date) SELECT id, ?, 'StockAdjustmentRow', ?,"
                        " 1, 1, 'adjustment', 'bench', ? FROM serials WHERE item_id = ?"
                        " AND serial_number BETWEEN ? AND ?",
                        (mv, row, t, self.s_item, numbers[0], numbers[-1]),
                    )

    def _stock(self, c: sqlite3.Cursor, variant: int, batch: int | None, qty: int) -> None:
        c.execute(
            "INSERT INTO stock (variant_id, location_id, batch_id, batch_key, quantity)"
            " VALUES (?,?,?,?,?) ON CONFLICT (variant_id, location_id, batch_key)"
            " DO UPDATE SET quantity = quantity + excluded.quantity",
            (variant, self.loc, batch, batch or 0, qty),
        )

    def receive_batches(self) -> None:
        s = self.sizes
        today = date.today()
        with (
            timed("receive-batches", s.batches * s.batch_units, "units", self.run),
            tx(self.conn) as c,
        ):
            t = now()
            row = self._adjustment(c, self.b_var, s.batches * s.batch_units, t)
            c.executemany(
                "INSERT INTO batches (variant_id, batch_number, expiration_date,"
                " batch_created_date, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                [
                    (
                        self.b_var,
                        f"LOT-{i:04d}",
                        (today + timedelta(days=round(730 * i / s.batches))).isoformat(),
                        t,
                        t,
                        t,
                    )
                    for i in range(1, s.batches + 1)
                ],
            )
            ids = [
                r[0]
                for r in c.execute(
                    "SELECT id FROM batches WHERE variant_id = ? ORDER BY id", (self.b_var,)
                )
            ]
            c.executemany(
                "INSERT INTO stock (variant_id, location_id, batch_id, batch_key,"
                " quantity) VALUES (?,?,?,?,?)",
                [(self.b_var, self.loc, b, b, s.batch_units) for b in ids],
            )
            c.executemany(
                "INSERT INTO movements (variant_id, location_id, batch_id, quantity,"
                " balance_after, reason, resource_type, resource_id, user,"
                " movement_date, created_at) VALUES (?,?,?,?,0,'adjustment',"
                " 'StockAdjustmentRow',?,'bench',?,?)",
                [(self.b_var, self.loc, b, s.batch_units, row, t, t) for b in ids],
            )

    def _order(self, c: sqlite3.Cursor, i: int, variant: int, qty: int) -> int:
        c.execute(
            "INSERT INTO floor_orders (order_no, customer_id, location_id, status)"
            " VALUES (?,?,?,'NOT_SHIPPED')",
            (f"SO-{i}", self.customer, self.loc),
        )
        order = c.lastrowid
        c.execute(
            "INSERT INTO floor_order_rows (sales_order_id, variant_id, quantity) VALUES (?,?,?)",
            (order, variant, qty),
        )
        return int(c.lastrowid)  # type: ignore[arg-type]

    def sell_serials(self) -> None:
        s = self.sizes
        k = s.serials_per_order
        with timed("sell-serials", s.orders, "orders", self.run):
            for i in range(s.orders):
                t = now()
                with tx(self.conn) as c:
                    row = self._order(c, i, self.s_var, k)
                    c.execute(
                        "UPDATE serials SET status='reserved', holder_type=?, holder_id=?"
                        " WHERE id IN (SELECT id FROM serials WHERE variant_id=? AND"
                        " location_id=? AND status='in_stock' AND holder_type IS NULL"
                        " AND hold_reason IS NULL ORDER BY serial_number LIMIT ?)",
                        (ROW, row, self.s_var, self.loc, k),
                    )
                    c.execute(
                        "UPDATE stock SET quantity = quantity - ? WHERE variant_id=? AND"
                        " location_id=? AND batch_key=0 AND quantity >= ?",
                        (k, self.s_var, self.loc, k),
                    )
                    mv = self._movement(c, self.s_var, None, -k, "delivery", ROW, row, t)
                    c.execute(
                        "INSERT INTO serial_transactions (serial_id, movement_id,"
                        " resource_type, resource_id, quantity_change, is_active, reason,"
                        " user, transaction_date) SELECT id, ?, ?, ?, -1, 1, 'delivery',"
                        " 'bench', ? FROM serials WHERE holder_type=? AND holder_id=?",
                        (mv, ROW, row, t, ROW, row),
                    )
                    c.execute(
                        "UPDATE serials SET status='delivered', location_id=NULL"
                        " WHERE holder_type=? AND holder_id=?",
                        (ROW, row),
                    )
                    c.execute(
                        "UPDATE floor_orders SET status='DELIVERED' WHERE id = (SELECT"
                        " sales_order_id FROM floor_order_rows WHERE id=?)",
                        (row,),
                    )

    def sell_batches(self) -> None:
        s = self.sizes
        q = s.batch_units_per_order
        with timed("sell-batches", s.orders, "orders", self.run):
            for i in range(s.orders):
                t = now()
                with tx(self.conn) as c:
                    row = self._order(c, s.orders + i, self.b_var, q)
                    picks, need = [], q
                    for batch, on_hand in c.execute(
                        "SELECT s.batch_id, s.quantity FROM stock s JOIN batches b ON"
                        " b.id = s.batch_id WHERE s.variant_id=? AND s.location_id=? AND"
                        " s.quantity > 0 AND b.expiration_date >= ? ORDER BY"
                        " b.expiration_date, b.id LIMIT 2",
                        (self.b_var, self.loc, date.today().isoformat()),
                    ).fetchall():
                        take = min(need, int(on_hand))
                        picks.append((batch, take))
                        need -= take
                        if need == 0:
                            break
                    c.executemany(
                        "INSERT INTO batch_picks (resource_type, resource_id, batch_id,"
                        " quantity) VALUES (?,?,?,?)",
                        [(ROW, row, b, n) for b, n in picks],
                    )
                    c.executemany(
                        "UPDATE stock SET quantity = quantity - ? WHERE variant_id=?"
                        " AND location_id=? AND batch_key=? AND quantity >= ?",
                        [(n, self.b_var, self.loc, b, n) for b, n in picks],
                    )
                    c.executemany(
                        "INSERT INTO movements (variant_id, location_id, batch_id,"
                        " quantity, balance_after, reason, resource_type, resource_id,"
                        " user, movement_date, created_at) VALUES (?,?,?,?,0,"
                        " 'delivery',?,?,'bench',?,?)",
                        [(self.b_var, self.loc, b, -n, ROW, row, t, t) for b, n in picks],
                    )
                    c.execute(
                        "UPDATE floor_orders SET status='DELIVERED' WHERE id = (SELECT"
                        " sales_order_id FROM floor_order_rows WHERE id=?)",
                        (row,),
                    )

    def trace(self) -> None:
        s = self.sizes
        rnd = random.Random(s.seed)
        delivered = [
            r[0]
            for r in self.conn.execute(
                "SELECT serial_number FROM serials WHERE status='delivered' ORDER BY serial_number"
            )
        ]
        numbers = rnd.sample(delivered, min(s.trace_serials, len(delivered)))
        lots = rnd.sample([f"LOT-{i:04d}" for i in range(1, s.batches + 1)], s.trace_batches)
        with timed("trace", len(numbers) + len(lots), "queries", self.run) as phase:
            phase.latencies_ms["serial"] = sample(self._who_got_serial, numbers)
            phase.latencies_ms["batch"] = sample(self._who_got_batch, lots)

    def _who_got_serial(self, number: str) -> list[tuple[str, str]]:
        return self.conn.execute(
            "SELECT o.order_no, c.name FROM serials s JOIN serial_transactions t ON"
            " t.serial_id = s.id AND t.quantity_change = -1 AND t.resource_type = ?"
            " JOIN floor_order_rows r ON r.id = t.resource_id JOIN floor_orders o ON"
            " o.id = r.sales_order_id JOIN customers c ON c.id = o.customer_id"
            " WHERE s.item_id = ? AND s.serial_number = ?",
            (ROW, self.s_item, number),
        ).fetchall()

    def _who_got_batch(self, lot: str) -> list[tuple[str, str]]:
        return self.conn.execute(
            "SELECT DISTINCT o.order_no, c.name FROM batches b JOIN movements m ON"
            " m.batch_id = b.id AND m.reason = 'delivery' JOIN floor_order_rows r ON"
            " r.id = m.resource_id JOIN floor_orders o ON o.id = r.sales_order_id JOIN"
            " customers c ON c.id = o.customer_id WHERE b.variant_id = ? AND"
            " b.batch_number = ?",
            (self.b_var, lot),
        ).fetchall()

    def all(self) -> Run:
        self.receive_serials()
        self.receive_batches()
        self.sell_serials()
        self.sell_batches()
        self.trace()
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.run.db_size_mib = sqlite_size_mib(self.url)
        self.conn.close()
        return self.run


def run(sizes: Sizes) -> Run:
    return Floor(sizes).all()


if __name__ == "__main__":
    from bench.common import print_run

    print_run(run(Sizes()))

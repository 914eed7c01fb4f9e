"""Every table, imported so that ``Base.metadata`` knows them all (Alembic, tests)."""

from tracelot.db.models import catalog, stock  # noqa: F401
from tracelot.db.models.catalog import (  # noqa: F401
    Customer, CustomerAddress, Item, Location, Supplier, Variant)
from tracelot.db.models.stock import (  # noqa: F401
    ApiToken, Batch, BatchPick, Movement, Serial, SerialTransaction, Stock, StockAdjustment,
    StockAdjustmentRow, StockTransfer, StockTransferRow, TrackingArchive)

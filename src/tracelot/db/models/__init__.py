"""Every table, imported so that ``Base.metadata`` knows them all (Alembic, tests).

A capability that adds tables adds its module here (one line each).
"""

from tracelot.db.models import (  # noqa: F401
    catalog,
    genealogy,
    manufacturing,
    purchasing,
    sales,
    stock,
    users,
    webhooks,
)
from tracelot.db.models.catalog import (  # noqa: F401
    Customer,
    CustomerAddress,
    Item,
    Location,
    Supplier,
    Variant,
)
from tracelot.db.models.genealogy import Genealogy  # noqa: F401
from tracelot.db.models.manufacturing import (  # noqa: F401
    ManufacturingOrder,
    ManufacturingOrderRecipeRow,
    NumberCounter,
    Production,
    ProductionIngredient,
    RecipeRow,
)
from tracelot.db.models.purchasing import (  # noqa: F401
    PurchaseOrder,
    PurchaseOrderRow,
    PurchaseReceipt,
    PurchaseReceiptMovement,
)
from tracelot.db.models.sales import (  # noqa: F401
    OrderImport,
    SalesOrder,
    SalesOrderFulfillment,
    SalesOrderFulfillmentRow,
    SalesOrderRow,
)
from tracelot.db.models.stock import (  # noqa: F401
    ApiToken,
    Batch,
    BatchPick,
    Movement,
    Serial,
    SerialTransaction,
    Stock,
    StockAdjustment,
    StockAdjustmentRow,
    StockTransfer,
    StockTransferRow,
    TrackingArchive,
)
from tracelot.db.models.users import User  # noqa: F401
from tracelot.db.models.webhooks import Webhook, WebhookDelivery  # noqa: F401

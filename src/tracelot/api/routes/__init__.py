"""Every router under /v1. A capability adds its router to ROUTERS here."""

from tracelot.api.routes import (  # noqa: E402 (traceability)
    adjustments,
    batches,
    catalog,
    labels,
    manufacturing,
    movements,
    parties,
    purchasing,
    scan,
    serials,
    tracing,
    transfers,
)
from tracelot.api.routes import imports, sales, webhooks  # noqa: E402 (sales orders)
from tracelot.api.routes import compliance  # noqa: E402 (FSMA 204, tracing issues)

ROUTERS = [
    catalog.router,
    parties.router,
    batches.router,
    serials.router,
    adjustments.router,
    movements.router,
    transfers.router,
    scan.router,
    labels.router,
    tracing.router,
    sales.router,
    imports.router,
    webhooks.router,
    purchasing.router,
    manufacturing.router,
    compliance.router,
]

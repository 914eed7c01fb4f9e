"""Every router under /v1. A capability adds its router to ROUTERS here."""

from tracelot.api.routes import (
    adjustments,
    batches,
    catalog,
    compliance,
    imports,
    labels,
    manufacturing,
    movements,
    parties,
    purchasing,
    sales,
    scan,
    serials,
    tracing,
    transfers,
    webhooks,
)

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

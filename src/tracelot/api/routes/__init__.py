"""Every router under /v1. A capability adds its router to ROUTERS here."""

from tracelot.api.routes import (
    adjustments, batches, catalog, movements, parties, serials, transfers)

ROUTERS = [
    catalog.router,
    parties.router,
    batches.router,
    serials.router,
    adjustments.router,
    movements.router,
    transfers.router,
]

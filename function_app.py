"""calbridge on Azure Functions: telemetry set-up, the app and its blueprints, nothing else."""

from __future__ import annotations

import azure.functions as func

from calbridge.functions import (
    bridges,
    dashboard,
    decisions,
    guide,
    mappings,
    openapi,
    polling,
    stats,
    sync,
    webhooks,
)
from calbridge.telemetry import configure_telemetry

configure_telemetry()
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (bridges.bp, mappings.bp, stats.bp, sync.bp, decisions.bp, webhooks.bp,
                  polling.bp, guide.bp, dashboard.bp):
    app.register_functions(blueprint)
# Last: the contract documents every route registered above.
app.register_functions(openapi.blueprint(app))

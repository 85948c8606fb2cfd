"""calbridge on Azure Functions: the app and its blueprints, nothing else."""

from __future__ import annotations

import azure.functions as func

from calbridge.functions import bridges, mappings, stats

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (bridges.bp, mappings.bp, stats.bp):
    app.register_functions(blueprint)

"""The registry API, assembled: routes per resource (gateway/api/routes/), their
dependencies (gateway/api/deps.py). Routes stay thin: domain logic lives in
gateway.registry and gateway.storage; acknowledging an alert is whatever
`acknowledge` the caller hands in, the same as for acks arriving over MQTT.

The OpenAPI schema is served at /openapi.json to any valid token only; the
interactive /docs and /redoc pages are not served (docs/operations.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from gateway import __version__
from gateway.api.deps import AnyRole
from gateway.api.routes import alerts, commands, devices, health, metrics, owners, stations
from gateway.api.throttle import FailureThrottle
from gateway.commands import Commands
from gateway.console import routes as console
from gateway.ingest import Ingest
from gateway.metrics import Metrics
from gateway.protocol import DispatchAck
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.stations.directory import StationDirectory
from gateway.storage.common import HTTP_STATUS, StoreError
from gateway.storage.store import Store

log = logging.getLogger("gateway.api")


def create_app(settings: Settings, store: Store, registry: Registry, metrics_: Metrics, *,
               acknowledge: Callable[[DispatchAck], object],
               broker_connected: Callable[[], bool] | None = None,
               station_directory: StationDirectory | None = None,
               commands_: Commands | None = None) -> FastAPI:
    """`acknowledge` applies an operator's acknowledgement (then the alert is read back from
    storage); `broker_connected` tells /health about the MQTT link (None: not running);
    `station_directory`: the process's station directory, the one alerts are routed with (None: the
    stations routes make their own), so a change through the API re-routes at once; `commands_`: the
    bridge's command service (None: commands are stored and staged, and published by the outbox's poll)."""
    app = FastAPI(title="Panic button registry", version=__version__,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = store
    app.state.registry = registry
    app.state.metrics = metrics_
    app.state.acknowledge = acknowledge
    app.state.broker_connected = broker_connected
    app.state.exiting = lambda: False  # the server replaces it: True once it is shutting down
    if station_directory is not None:
        app.state.stations = station_directory
    app.state.commands = commands_ or Commands(Ingest(store, metrics_, settings.max_payload_bytes), lambda _: None)
    app.state.throttle = FailureThrottle(settings.api_token_failures, settings.api_token_failure_window_s)

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=HTTP_STATUS[exc.code])

    @app.exception_handler(OperationalError)
    async def database_down(_request: Request, exc: OperationalError) -> Response:
        # The database went away mid-request: a clear 503, not a bare 500.
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return JSONResponse({"detail": "the database is not available; retry"},
                            status_code=503)

    for module in (health, metrics, owners, devices, commands, alerts, stations):
        app.include_router(module.router)
    console.install(app)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_role: AnyRole) -> dict[str, Any]:
        return app.openapi()

    return app

"""GET /health: database and broker connection, without a token (for load balancers)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from gateway import __version__
from gateway.api.deps import BrokerConnectedDep, StoreDep
from gateway.api.responses import errors

router = APIRouter(tags=["health"])


@router.get("/health", responses=errors(503, auth=False))
def health(store: StoreDep, broker_connected: BrokerConnectedDep) -> dict[str, object]:
    try:
        store.ping()
        database = True
    except Exception:
        database = False
    mqtt = broker_connected() if broker_connected else None
    if not database or mqtt is False:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"database {'up' if database else 'down'}, broker {'up' if mqtt else 'down'}")
    return {"status": "ok", "database": database, "mqtt": mqtt, "version": __version__}

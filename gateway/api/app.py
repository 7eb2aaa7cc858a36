"""The registry API. Routes stay thin: domain logic lives in gateway.registry,
gateway.bridge and gateway.storage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from gateway import __version__
from gateway.api import schemas
from gateway.api.auth import require
from gateway.bridge import Bridge
from gateway.enrich import e7_to_degrees, rfc3339
from gateway.metrics import Metrics
from gateway.protocol import Acknowledgement, DispatchAck
from gateway.registry import Registry, key_fingerprint
from gateway.settings import Settings
from gateway.storage.models import Alert, Device, Owner, Premises
from gateway.storage.store import Store, StoreError

# Domain errors: 400 for a request that is well-formed but does not fit the
# registry (422 stays FastAPI's, for bodies that fail their schema).
_HTTP_STATUS = {"not_found": 404, "conflict": 409, "invalid": 400}
_ERROR_TEXT = {
    400: "does not fit the registry",
    401: "missing or unknown bearer token",
    403: "the token's role may not do this",
    404: "no such record",
    409: "conflicts with the registry",
    503: "the database or the MQTT bridge is not available",
}


def _errors(*codes: int, auth: bool = True) -> dict[int | str, dict[str, Any]]:
    """The error answers a route documents (every route but /health needs a token)."""
    wanted = (401, 403, *codes) if auth else codes
    return {code: {"model": schemas.ErrorOut, "description": _ERROR_TEXT[code]} for code in wanted}


def _e7(value: Decimal | None) -> int | None:
    return None if value is None else int(value.scaleb(7))


def _premises_out(place: Premises) -> schemas.PremisesOut:
    return schemas.PremisesOut(id=place.id, kind=place.kind, address=place.address,
                               lat=e7_to_degrees(place.lat_e7), lon=e7_to_degrees(place.lon_e7))


def _owner_out(owner: Owner, places: list[Premises]) -> schemas.OwnerOut:
    return schemas.OwnerOut(
        id=owner.id, name=owner.name, phone=owner.phone,
        emergency_contacts=[schemas.Contact(**c) for c in owner.emergency_contacts],
        premises=[_premises_out(p) for p in places],
    )


def _device_out(device: Device) -> schemas.DeviceOut:
    return schemas.DeviceOut(
        device_id=device.id, owner_id=device.owner_id, premises_id=device.premises_id, status=device.status,
        firmware=device.firmware, online=device.online, key_fingerprint=key_fingerprint(device.key_hex),
    )


def _alert_out(alert: Alert) -> schemas.AlertOut:
    return schemas.AlertOut(
        alert_id=alert.id, device_id=alert.device_id, seq=alert.seq, type=alert.type, state=alert.state,
        rev=alert.rev, published=alert.published_rev >= alert.rev, received_at=rfc3339(alert.received_at),
        false_alarm=alert.false_alarm, acted_by=alert.acted_by, note=alert.note,
    )


def create_app(settings: Settings, store: Store, registry: Registry, bridge: Bridge | None,
               metrics: Metrics) -> FastAPI:
    app = FastAPI(title="Panic button registry", version=__version__)
    app.state.settings = settings

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=_HTTP_STATUS[exc.code])

    @app.get("/health", responses=_errors(503, auth=False))
    def health() -> dict[str, object]:
        try:
            store.ping()
            database = True
        except Exception:
            database = False
        mqtt = bridge.connected.is_set() if bridge else None
        ok = database and mqtt is not False
        if not ok:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                f"database {'up' if database else 'down'}, broker {'up' if mqtt else 'down'}")
        return {"status": "ok", "database": database, "mqtt": mqtt, "version": __version__}

    @app.get("/metrics", response_class=PlainTextResponse, responses=_errors())
    def get_metrics(_role: str = Depends(require("operator"))) -> str:
        return metrics.render()

    @app.post("/owners", status_code=201, response_model=schemas.OwnerOut, responses=_errors())
    def create_owner(body: schemas.OwnerIn, _role: str = Depends(require("technician"))) -> schemas.OwnerOut:
        owner, places = store.create_owner(
            body.name, body.phone, [c.model_dump() for c in body.emergency_contacts],
            [{"kind": p.kind, "address": p.address, "lat_e7": _e7(p.lat), "lon_e7": _e7(p.lon)}
             for p in body.premises],
        )
        return _owner_out(owner, places)

    @app.get("/owners/{owner_id}", response_model=schemas.OwnerOut, responses=_errors(404))
    def get_owner(owner_id: str, _role: str = Depends(require("technician", "operator"))) -> schemas.OwnerOut:
        return _owner_out(*store.get_owner(owner_id))

    @app.post("/owners/{owner_id}/premises", status_code=201, response_model=schemas.PremisesOut,
              responses=_errors(404))
    def add_premises(owner_id: str, body: schemas.PremisesIn,
                     _role: str = Depends(require("technician"))) -> schemas.PremisesOut:
        place = store.add_premises(owner_id, {"kind": body.kind, "address": body.address,
                                              "lat_e7": _e7(body.lat), "lon_e7": _e7(body.lon)})
        return _premises_out(place)

    @app.post("/devices", status_code=201, response_model=schemas.DeviceIssued, responses=_errors(400, 409))
    def register_device(body: schemas.DeviceIn,
                        _role: str = Depends(require("technician"))) -> schemas.DeviceIssued:
        issued = registry.register_device(body.device_id, body.owner_id, body.premises_id)
        return schemas.DeviceIssued(**_device_out(issued.device).model_dump(), device_key=issued.device_key_hex,
                                    mqtt_username=issued.mqtt_username, mqtt_password=issued.mqtt_password)

    @app.get("/devices/{device_id}", response_model=schemas.DeviceOut, responses=_errors(404))
    def get_device(device_id: str, _role: str = Depends(require("technician", "operator"))) -> schemas.DeviceOut:
        return _device_out(store.get_device(device_id))

    @app.get("/alerts", response_model=list[schemas.AlertOut], responses=_errors())
    def list_alerts(device_id: str | None = None, state: str | None = None,
                    limit: int = Query(100, ge=1, le=1000),
                    _role: str = Depends(require("operator"))) -> list[schemas.AlertOut]:
        return [_alert_out(a) for a in store.list_alerts(device_id, state, limit)]

    @app.get("/alerts/{alert_id}", response_model=schemas.AlertOut, responses=_errors(404))
    def get_alert(alert_id: str, _role: str = Depends(require("operator"))) -> schemas.AlertOut:
        return _alert_out(store.get_alert(alert_id))

    @app.post("/alerts/{alert_id}/ack", response_model=schemas.AlertOut, responses=_errors(404, 409, 503))
    def ack_alert(alert_id: str, body: Acknowledgement,
                  _role: str = Depends(require("operator"))) -> schemas.AlertOut:
        if bridge is None:
            raise HTTPException(503, "the MQTT bridge is not running")
        bridge.apply_dispatch_ack(DispatchAck(alert_id=alert_id, **body.model_dump()))
        return _alert_out(store.get_alert(alert_id))

    return app

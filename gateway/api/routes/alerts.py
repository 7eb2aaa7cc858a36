"""Alerts for operators: list, read, and act on one (the same acknowledgement as over MQTT)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from pydantic import ValidationError

from gateway.api import schemas
from gateway.api.deps import AcknowledgeDep, Operator, StoreDep, TechnicianOrOperator
from gateway.api.responses import errors
from gateway.enrich import rfc3339
from gateway.protocol import Acknowledgement, DispatchAck
from gateway.storage.common import StoreError
from gateway.storage.models import Alert

router = APIRouter(prefix="/alerts", tags=["alerts"])


def _alert_out(alert: Alert) -> schemas.AlertOut:
    return schemas.AlertOut(
        alert_id=alert.id, device_id=alert.device_id, seq=alert.seq, type=alert.type, state=alert.state,
        rev=alert.rev, published=alert.published_rev >= alert.rev, received_at=rfc3339(alert.received_at),
        false_alarm=alert.false_alarm, acted_by=alert.acted_by, note=alert.note,
    )


@router.get("", response_model=list[schemas.AlertOut], responses=errors())
def list_alerts(store: StoreDep, role: TechnicianOrOperator, device_id: str | None = None, state: str | None = None,
                limit: int = Query(100, ge=1, le=1000)) -> list[schemas.AlertOut]:
    if role == "technician" and device_id is None:
        # a technician confirms the test alert of the unit in hand (panic-provision test-alert), nothing more
        raise HTTPException(403, "technicians list the alerts of one device: give device_id")
    return [_alert_out(a) for a in store.list_alerts(device_id, state, limit)]


@router.get("/{alert_id}", response_model=schemas.AlertOut, responses=errors(404))
def get_alert(alert_id: str, store: StoreDep, _role: Operator) -> schemas.AlertOut:
    return _alert_out(store.get_alert(alert_id))


@router.post("/{alert_id}/ack", response_model=schemas.AlertOut, responses=errors(404, 409, 503))
def ack_alert(alert_id: str, body: Acknowledgement, store: StoreDep, acknowledge: AcknowledgeDep,
              _role: Operator) -> schemas.AlertOut:
    try:
        ack = DispatchAck(alert_id=alert_id, **body.model_dump())
    except ValidationError:  # the body passed already: only the id can fail, and no alert has it
        raise StoreError("not_found", f"no alert {alert_id}") from None
    acknowledge(ack)
    return _alert_out(store.get_alert(alert_id))

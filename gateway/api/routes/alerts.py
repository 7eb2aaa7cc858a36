"""Alerts for operators: list, read (with the timeline), act on one (the same acknowledgement as over MQTT).

    POST /alerts/{id}/ack {"state", "by", "note", "rev"}: 404 unknown alert, 409 a move that is not
    allowed (names from and to) or a stale `rev`, 422 a malformed body (gateway/lifecycle.py).
"""

from __future__ import annotations

from typing import Any

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


def _alert_fields(alert: Alert) -> dict[str, Any]:
    return dict(
        alert_id=alert.id, device_id=alert.device_id, seq=alert.seq, type=alert.type, state=alert.state,
        rev=alert.rev, published=alert.published_rev >= alert.rev, received_at=rfc3339(alert.received_at),
        false_alarm=alert.false_alarm, acted_by=alert.acted_by, note=alert.note,
        escalation_level=alert.escalation_level,
    )


def _alert_detail(store: StoreDep, alert_id: str) -> schemas.AlertDetail:
    alert, steps = store.timeline(alert_id)
    return schemas.AlertDetail(**_alert_fields(alert), timeline=[
        schemas.TimelineStep(at=rfc3339(s.at), state=s.state, by=s.by, note=s.note, rev=s.rev,
                             escalation=s.escalation) for s in steps])


@router.get("", response_model=list[schemas.AlertOut], responses=errors())
def list_alerts(store: StoreDep, role: TechnicianOrOperator, device_id: str | None = None, state: str | None = None,
                limit: int = Query(100, ge=1, le=1000)) -> list[schemas.AlertOut]:
    if role == "technician" and device_id is None:
        # a technician confirms the test alert of the unit in hand (panic-provision test-alert), nothing more
        raise HTTPException(403, "technicians list the alerts of one device: give device_id")
    return [schemas.AlertOut(**_alert_fields(a)) for a in store.list_alerts(device_id, state, limit)]


@router.get("/{alert_id}", response_model=schemas.AlertDetail, responses=errors(404))
def get_alert(alert_id: str, store: StoreDep, _role: Operator) -> schemas.AlertDetail:
    return _alert_detail(store, alert_id)


@router.get("/{alert_id}/notifications", response_model=list[schemas.NotificationOut], responses=errors(404))
def get_notifications(alert_id: str, store: StoreDep, _role: Operator) -> list[schemas.NotificationOut]:
    """What was (or is still to be) sent to people about the alert (gateway/notify/)."""
    store.get_alert(alert_id)  # 404 for an unknown alert
    return [schemas.NotificationOut(event=n.event, channel=n.channel, recipient=n.recipient, role=n.role,
                                    lang=n.lang, state=n.state, attempts=n.attempts, last_error=n.last_error,
                                    sent_at=rfc3339(n.sent_at) if n.sent_at else None)
            for n in store.notification_log(alert_id)]


@router.post("/{alert_id}/ack", response_model=schemas.AlertDetail, responses=errors(404, 409, 503))
def ack_alert(alert_id: str, body: Acknowledgement, store: StoreDep, acknowledge: AcknowledgeDep,
              _role: Operator) -> schemas.AlertDetail:
    try:
        ack = DispatchAck(alert_id=alert_id, **body.model_dump(exclude={"false_alarm"}))
    except ValidationError:  # the body passed already: only the id can fail, and no alert has it
        raise StoreError("not_found", f"no alert {alert_id}") from None
    acknowledge(ack)
    return _alert_detail(store, alert_id)

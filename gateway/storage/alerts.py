"""Alerts and their revisions: what enrichment reads, what dispatch changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from gateway.protocol import EMERGENCIES
from gateway.storage.base import StoreBase
from gateway.storage.common import StoreError, as_utc
from gateway.storage.models import Alert
from gateway.storage.outbox import OutboxItem, Publication, stage
from gateway.storage.profiles import DeviceProfile


@dataclass(frozen=True)
class AlertContext:
    """Everything enrichment needs about one alert."""

    alert: Alert
    profile: DeviceProfile
    recent_alerts: int
    false_alarms: int
    last_alert_at: datetime | None


@dataclass(frozen=True)
class Revision:
    """The outcome of a dispatch acknowledgement."""

    alert: Alert
    changed: bool  # False: the alert already was in that state (a retried acknowledgement)
    staged: list[OutboxItem]


# Dispatch may move an alert forward only; resolved and cancelled are final.
# cancel_requested: the button asked to cancel (a `cancel` message); police decide what follows.
_NEXT_STATES = {
    "new": {"acknowledged", "dispatched", "resolved", "cancelled", "cancel_requested"},
    "acknowledged": {"dispatched", "resolved", "cancelled", "cancel_requested"},
    "dispatched": {"resolved", "cancelled", "cancel_requested"},
    "cancel_requested": {"acknowledged", "dispatched", "resolved", "cancelled"},
    "resolved": set(),
    "cancelled": set(),
}
CANCEL_REQUESTED = "cancel_requested"


def request_cancel(target: Alert | None, cancel: Alert, now: datetime) -> Alert | None:
    """A button's new `cancel` turns `target` into a new revision in
    state cancel_requested; the target as revised, or None when it cannot take one (not an
    emergency, already final or already asked). Never withdraws anything: police decide."""
    if target is None or target.type not in EMERGENCIES or CANCEL_REQUESTED not in _NEXT_STATES[target.state]:
        return None
    target.state = CANCEL_REQUESTED
    target.rev += 1
    target.acted_by = "button"
    target.note = f"cancel requested by the button: alert {cancel.id}"
    target.updated_at = now
    return target


class AlertStore(StoreBase):
    def context(self, alert_id: str) -> AlertContext:
        """The alert with its device's profile and this device's history before it."""
        found = self.contexts([alert_id]).get(alert_id)
        if found is None:
            raise StoreError("not_found", f"no alert {alert_id} of a registered device")
        return found

    def contexts(self, alert_ids: Sequence[str]) -> dict[str, AlertContext]:
        """`context()` for many alerts in one session (the publisher renders a batch at once).

        Alerts that are gone, or whose device is, are left out.
        """
        found: dict[str, AlertContext] = {}
        if not alert_ids:
            return found
        with self.sessions() as session:
            for alert in session.execute(select(Alert).where(Alert.id.in_(set(alert_ids)))).scalars():
                profile = self.profiles.get(session, alert.device_id)
                if profile is None:
                    continue
                since = as_utc(alert.received_at) - timedelta(days=self.history_days)
                recent, false_alarms, last = session.execute(
                    select(
                        func.coalesce(func.sum(case((and_(Alert.received_at >= since, Alert.type.in_(EMERGENCIES)), 1),
                                                    else_=0)), 0),
                        func.coalesce(func.sum(case((Alert.false_alarm.is_(True), 1), else_=0)), 0),
                        func.max(Alert.received_at),
                    ).where(Alert.device_id == alert.device_id, Alert.id != alert.id,
                            Alert.received_at <= alert.received_at)
                ).one()
                found[alert.id] = AlertContext(alert, profile, int(recent), int(false_alarms),
                                               as_utc(last) if last else None)
        return found

    def set_dispatch_state(
        self, alert_id: str, state: str, by: str, note: str | None, false_alarm: bool, now: datetime,
        plan: Callable[[Alert, bool], list[Publication]] = lambda _alert, _changed: [],
    ) -> Revision:
        """Apply a dispatcher's acknowledgement and stage what `plan` publishes about it, in one transaction."""
        with self.sessions() as session:
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None:
                raise StoreError("not_found", f"no alert {alert_id}")
            changed = not (alert.state == state and not (false_alarm and not alert.false_alarm))
            if changed:
                if state not in _NEXT_STATES.get(alert.state, set()):
                    raise StoreError("conflict", f"alert {alert_id} is {alert.state}; cannot become {state}")
                alert.state = state
                alert.rev += 1
                alert.acted_by = by
                alert.note = note
                alert.false_alarm = alert.false_alarm or false_alarm
                alert.updated_at = now
            staged = stage(session, plan(alert, changed), now, self.instance, self.lease_s)
            session.commit()
            return Revision(alert, changed, staged)

    def list_alerts(self, device_id: str | None, state: str | None, limit: int) -> list[Alert]:
        with self.sessions() as session:
            query = select(Alert).order_by(Alert.received_at.desc()).limit(limit)
            if device_id:
                query = query.where(Alert.device_id == device_id)
            if state:
                query = query.where(Alert.state == state)
            return list(session.execute(query).scalars())

    def get_alert(self, alert_id: str) -> Alert:
        with self.sessions() as session:
            alert = session.get(Alert, alert_id)
            if alert is None:
                raise StoreError("not_found", f"no alert {alert_id}")
            return alert

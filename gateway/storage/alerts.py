"""Alerts and their revisions: what enrichment reads, what dispatch changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from gateway import lifecycle
from gateway.protocol import EMERGENCIES
from gateway.storage.base import StoreBase
from gateway.storage.common import StoreError, as_utc
from gateway.storage.models import Alert, AlertTransition
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
    previous: str  # the state before


@dataclass(frozen=True)
class Step:
    """One entry of an alert's timeline (GET /alerts/{id}): its first state, then every transition."""

    at: datetime
    state: str
    by: str | None
    note: str | None
    rev: int
    escalation: int | None


def request_cancel(target: Alert | None, cancel: Alert, now: datetime) -> Alert | None:
    """A button's new `cancel` turns `target` into a new revision in state cancel_requested
    (gateway/lifecycle.py); the target as revised, or None when it cannot take one (not an emergency,
    already ended or already asked). Never withdraws anything: police decide. The caller stores the
    transition (AlertTransition) in the same transaction."""
    if target is None or target.type not in EMERGENCIES or not lifecycle.allowed(target.state,
                                                                                  lifecycle.CANCEL_REQUESTED):
        return None
    target.state = lifecycle.CANCEL_REQUESTED
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
        self, alert_id: str, state: str, by: str, note: str | None, now: datetime, *, rev: int | None = None,
        plan: Callable[[Alert, bool], list[Publication]] = lambda _alert, _changed: [],
    ) -> Revision:
        """Move an alert to `state` (gateway/lifecycle.py), store the transition and stage what `plan`
        publishes about it, in one transaction.

        The same state again is a retry: nothing changes, `plan` still runs (the button is told
        again). `rev`: the revision the actor saw; another one is a conflict (stale revision).
        """
        with self.sessions() as session:
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None:
                raise StoreError("not_found", f"no alert {alert_id}")
            previous = alert.state
            changed = alert.state != state
            if changed:
                if rev is not None and rev != alert.rev:
                    raise StoreError("conflict", f"stale revision: alert {alert_id} is at rev {alert.rev} "
                                                 f"({alert.state}), not rev {rev}; read it again")
                if not lifecycle.allowed(alert.state, state):
                    raise StoreError("conflict", f"alert {alert_id} cannot go from {alert.state} to {state}")
                alert.state = state
                alert.rev += 1
                alert.acted_by = by
                alert.note = note
                alert.false_alarm = alert.false_alarm or state == "false_alarm"
                alert.updated_at = now
                if state not in lifecycle.UNANSWERED:
                    alert.escalate_at = None  # police answered: escalation stops
                session.add(AlertTransition(alert_id=alert.id, at=now, state=state, by=by, note=note,
                                            rev=alert.rev, escalation=None))
            staged = stage(session, plan(alert, changed), now, self.instance, self.lease_s)
            session.commit()
            return Revision(alert, changed, staged, previous)

    def timeline(self, alert_id: str) -> tuple[Alert, list[Step]]:
        """The alert and its life in order: `new` at rev 1, then every stored transition."""
        with self.sessions() as session:
            alert = session.get(Alert, alert_id)
            if alert is None:
                raise StoreError("not_found", f"no alert {alert_id}")
            steps = [Step(as_utc(alert.received_at), "new", None, None, 1, None)]
            rows = session.execute(select(AlertTransition).where(AlertTransition.alert_id == alert_id)
                                   .order_by(AlertTransition.id)).scalars()
            steps += [Step(as_utc(t.at), t.state, t.by, t.note, t.rev, t.escalation) for t in rows]
            return alert, steps

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

"""People to tell about an alert (gateway/notify/): events staged with their cause, then one row per message.

    stage()            in the transaction that commits the cause: a notify_events row per (alert, event)
    claim_notify_events → the notifier works out the recipients → expand(): one notifications row each
    claim_notifications → send → notification_sent() / notification_failed() (due again after a back-off)

Every row is unique per alert and event (and channel and recipient): an
event staged or expanded twice, after a crash, is still one message. Both
tables are taken with leases (`due_at`), as the outbox is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.storage.base import StoreBase
from gateway.storage.claims import claim_rows, settle
from gateway.storage.common import as_utc
from gateway.storage.models import Notification, NotifyEvent


def stage(session: Session, items: Sequence[tuple[str, dict[str, Any]]], now: datetime) -> None:
    """(alert id, {"event", detail...}) into the caller's transaction, due now; an event staged twice stays one."""
    seen: set[tuple[str, str]] = set()
    for alert_id, body in items:
        event = str(body["event"])
        if (alert_id, event) in seen or session.execute(
                select(NotifyEvent.id).where(NotifyEvent.alert_id == alert_id, NotifyEvent.event == event)).first():
            continue
        seen.add((alert_id, event))
        detail = {k: v for k, v in body.items() if k != "event"}
        session.add(NotifyEvent(alert_id=alert_id, event=event, detail=detail, due_at=now, created_at=now))


@dataclass(frozen=True)
class EventItem:
    id: int
    alert_id: str
    event: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """One message to one recipient, as the notifier worked it out."""

    channel: str  # sms, webhook
    recipient: str  # phone number, URL
    role: str  # contact, station, webhook
    lang: str  # id, en
    text: str  # the SMS text; for a webhook, the JSON document


@dataclass(frozen=True)
class Outgoing:
    id: int
    alert_id: str
    event: str
    channel: str
    recipient: str
    text: str
    attempts: int  # including the one this item is for


@dataclass(frozen=True)
class Sent:
    """One line of an alert's notification log."""

    event: str
    channel: str
    recipient: str
    role: str
    lang: str
    state: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


_OUTGOING = (Notification.id, Notification.alert_id, Notification.event, Notification.channel,
             Notification.recipient, Notification.text, Notification.attempts)


class NotificationStore(StoreBase):
    def claim_notify_events(self, now: datetime, limit: int = 50) -> list[EventItem]:
        with self.sessions() as session:
            rows = claim_rows(session, NotifyEvent, NotifyEvent.due_at <= now, limit,
                              (NotifyEvent.id, NotifyEvent.alert_id, NotifyEvent.event, NotifyEvent.detail),
                              due_at=now + timedelta(seconds=self.lease_s))
            session.commit()
        return sorted((EventItem(r.id, r.alert_id, r.event, r.detail) for r in rows), key=lambda e: e.id)

    def expand(self, event: EventItem, messages: Sequence[Message], now: datetime) -> int:
        """One row per message not already there, and the event is done. Returns the rows added."""
        with self.sessions() as session:
            have = {(r.channel, r.recipient) for r in session.execute(
                select(Notification.channel, Notification.recipient)
                .where(Notification.alert_id == event.alert_id, Notification.event == event.event))}
            added = 0
            for m in messages:
                if (m.channel, m.recipient) in have:
                    continue
                have.add((m.channel, m.recipient))
                session.add(Notification(alert_id=event.alert_id, event=event.event, channel=m.channel,
                                         recipient=m.recipient, role=m.role, lang=m.lang, text=m.text,
                                         state="pending", attempts=0, due_at=now, created_at=now))
                added += 1
            session.execute(delete(NotifyEvent).where(NotifyEvent.id == event.id))
            session.commit()
        return added

    def claim_notifications(self, now: datetime, channels: Sequence[str], limit: int = 50) -> list[Outgoing]:
        """Due messages on `channels` (the ones this instance can send), taken for one lease."""
        due = (Notification.due_at <= now) & (Notification.state == "pending") & Notification.channel.in_(channels)
        with self.sessions() as session:
            rows = claim_rows(session, Notification, due, limit, _OUTGOING,
                              due_at=now + timedelta(seconds=self.lease_s), attempts=Notification.attempts + 1)
            session.commit()
        return sorted((Outgoing(r.id, r.alert_id, r.event, r.channel, r.recipient, r.text, r.attempts)
                       for r in rows), key=lambda o: o.id)

    def notification_sent(self, item: Outgoing, now: datetime) -> None:
        settle(self.sessions, Notification, item.id, "state", sent_at=now)

    def notification_failed(self, item: Outgoing, error: str, retry_at: datetime | None) -> None:
        """Sending failed: due again at `retry_at`, or given up (None)."""
        settle(self.sessions, Notification, item.id, "state", error=error, retry_at=retry_at)

    def notification_log(self, alert_id: str) -> list[Sent]:
        """What was (or is to be) sent about an alert, oldest first."""
        with self.sessions() as session:
            rows = session.execute(select(Notification).where(Notification.alert_id == alert_id)
                                   .order_by(Notification.id)).scalars()
            return [Sent(n.event, n.channel, n.recipient, n.role, n.lang, n.state, n.attempts, n.last_error,
                         as_utc(n.sent_at) if n.sent_at else None) for n in rows]

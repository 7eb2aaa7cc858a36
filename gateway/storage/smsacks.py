"""Alert states told to buttons by SMS (gateway/sms/acks.py): where to, staged with their cause, then sent once.

    stage_routes()  with the judging of an alert SMS: the alert is answered by SMS, to its sender
    stage_acks()    with an alert's move: one sms_acks row per (alert, state), only for an alert with a route
    claim → send → ack_sent() / ack_failed() (due again after a back-off, or given up)

A row stays once sent: the same state staged again (a retried
acknowledgement, the same move after a restart) finds it and adds nothing.
Rows are taken with leases (`due_at`), as the outbox's are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.storage.base import StoreBase
from gateway.storage.claims import claim_rows, settle
from gateway.storage.models import SmsAck, SmsRoute


@dataclass(frozen=True)
class Route:
    alert_id: str
    sender: str


@dataclass(frozen=True)
class Staged:
    """A state to tell a button: its alert, device, ref (the alert's seq) and state."""

    alert_id: str
    device_id: str
    ref: int
    state: str


@dataclass(frozen=True)
class Outgoing:
    id: int
    alert_id: str
    device_id: str
    ref: int
    state: str
    recipient: str
    attempts: int  # including the one this item is for


def stage_routes(session: Session, routes: Sequence[Route], now: datetime) -> None:
    """The alert is answered by SMS, to the number of its latest SMS copy (a repeat may come from another)."""
    for route in routes:
        row = session.get(SmsRoute, route.alert_id)
        if row is None:
            session.add(SmsRoute(alert_id=route.alert_id, sender=route.sender, updated_at=now))
        else:
            row.sender, row.updated_at = route.sender, now
    if routes:
        session.flush()  # the acks staged with it see it


def stage_acks(session: Session, acks: Sequence[Staged], now: datetime) -> None:
    """A row per (alert, state) that has a route and no row yet, due now; staged twice, it stays one (also when
    two transactions stage it at once: an SMS repeat beside a retried move; the insert skips the conflict)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for ack in acks:
        sender = session.scalar(select(SmsRoute.sender).where(SmsRoute.alert_id == ack.alert_id))
        if sender is None:
            continue  # the alert never came by SMS: MQTT acks only
        session.execute(insert(SmsAck).values(
            alert_id=ack.alert_id, device_id=ack.device_id, ref=ack.ref, state=ack.state, recipient=sender,
            status="pending", attempts=0, due_at=now, created_at=now,
        ).on_conflict_do_nothing(index_elements=["alert_id", "state"]))


_OUTGOING = (SmsAck.id, SmsAck.alert_id, SmsAck.device_id, SmsAck.ref, SmsAck.state, SmsAck.recipient,
             SmsAck.attempts)


class SmsAckStore(StoreBase):
    def claim_sms_acks(self, now: datetime, limit: int = 20) -> list[Outgoing]:
        """Due state SMS, oldest first, taken for one lease."""
        due = (SmsAck.due_at <= now) & (SmsAck.status == "pending")
        with self.sessions() as session:
            rows = claim_rows(session, SmsAck, due, limit, _OUTGOING,
                              due_at=now + timedelta(seconds=self.lease_s), attempts=SmsAck.attempts + 1)
            session.commit()
        return sorted((Outgoing(r.id, r.alert_id, r.device_id, r.ref, r.state, r.recipient, r.attempts) for r in rows),
                      key=lambda o: o.id)

    def sms_ack_sent(self, item: Outgoing, now: datetime) -> None:
        settle(self.sessions, SmsAck, item.id, "status", sent_at=now)

    def sms_ack_failed(self, item: Outgoing, error: str, retry_at: datetime | None) -> None:
        """Sending failed: due again at `retry_at`, or given up (None)."""
        settle(self.sessions, SmsAck, item.id, "status", error=error, retry_at=retry_at)

    def sms_acks(self, alert_id: str) -> list[tuple[str, str, int]]:
        """(state, status, attempts) of what was (or is to be) texted to the alert's button, oldest first."""
        with self.sessions() as session:
            return [(r.state, r.status, r.attempts) for r in session.scalars(
                select(SmsAck).where(SmsAck.alert_id == alert_id).order_by(SmsAck.id))]

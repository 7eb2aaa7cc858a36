"""The DC-09 messages of each receiver, in the gateway's database (tables `dc09_receivers`, `dc09_messages`).

Why not the outbox's rows themselves (docs/architecture.md, "DC-09"): an
outbox row is claimed by whichever instance finds it due, published in a
batch beside others and deleted on the broker's PUBACK. A DC-09 receiver
needs the opposite: one message at a time per receiver, in order, each
keeping the sequence number of its first transmission across restarts. So
`stage()` writes one row per active receiver into `dc09_messages`, inside
the same transaction as the alert (gateway/storage/outbox.py calls it for
the pipeline's `dc09` publications), and one instance at a time holds a
receiver (a lease on its `dc09_receivers` row) and sends its rows in id order.

States: pending → deleted on ACK, or pending → parked (the receiver cannot or
will not take it; kept for an operator, `requeue_parked` sends it again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, false, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from gateway.dc09.message import SEQUENCE_MAX
from gateway.storage.common import utcnow
from gateway.storage.models import Dc09Message, Dc09Receiver


@dataclass(frozen=True)
class Report:
    """One Contact ID report, for every active receiver: `source_key` is its identity."""

    source_key: str
    device_id: str
    contact_id: str  # ContactId.text(), e.g. "1120 01 001"
    extended: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    receiver: str
    source_key: str
    device_id: str
    contact_id: str
    extended: tuple[str, ...]
    sequence: int | None
    attempts: int
    last_error: str | None


def stage(session: Session, reports: Sequence[Report], now: datetime) -> int:
    """Add each report for every active receiver to the caller's transaction; returns the rows added.

    A report already staged for a receiver (same source_key) is skipped.
    With no receiver configured this adds nothing.
    """
    if not reports:
        return 0
    names = session.scalars(select(Dc09Receiver.name).where(Dc09Receiver.active)).all()
    rows = [{"receiver": name, "source_key": report.source_key, "device_id": report.device_id,
             "contact_id": report.contact_id, "extended": list(report.extended), "state": "pending",
             "attempts": 0, "created_at": now} for report in reports for name in names]
    if not rows:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # RETURNING counts what was added on every driver (rowcount is -1 for this on psycopg).
    added = session.execute(insert(Dc09Message).values(rows).on_conflict_do_nothing().returning(Dc09Message.id))
    return len(added.all())


def _queued(row: Dc09Message) -> QueuedMessage:
    return QueuedMessage(row.id, row.receiver, row.source_key, row.device_id, row.contact_id,
                         tuple(row.extended), row.sequence, row.attempts, row.last_error)


class Dc09Queue:
    def __init__(self, sessions: sessionmaker[Session], instance: str, lease_s: float) -> None:
        self.sessions = sessions
        self.instance = instance
        self.lease_s = lease_s
        self._held_until: dict[str, datetime] = {}  # leases this instance took, to renew only half-way through

    def configure(self, names: Sequence[str]) -> None:
        """The configured receivers are active, every other one not (its rows stay, unsent)."""
        with self.sessions() as session:
            known = set(session.scalars(select(Dc09Receiver.name)))
            session.add_all(Dc09Receiver(name=name, active=True, next_sequence=1) for name in names
                            if name not in known)
            session.execute(update(Dc09Receiver).values(active=Dc09Receiver.name.in_(list(names)) if names
                                                        else false()))
            session.commit()

    def enqueue(self, reports: Sequence[Report]) -> int:
        """Stage reports in a transaction of their own (for reports with no cause to commit with them)."""
        with self.sessions() as session:
            added = stage(session, reports, utcnow())
            session.commit()
        return added

    def hold(self, receiver: str) -> bool:
        """Take or renew this instance's lease on sending to `receiver`: one sender per receiver keeps order."""
        now = utcnow()
        if now < self._held_until.get(receiver, now) - timedelta(seconds=self.lease_s / 2):
            return True  # no other instance can take it before our lease ends: spare a commit per message
        until = now + timedelta(seconds=self.lease_s)
        with self.sessions() as session:
            held: int = session.execute(
                update(Dc09Receiver)
                .where(Dc09Receiver.name == receiver,
                       or_(Dc09Receiver.holder.is_(None), Dc09Receiver.holder == self.instance,
                           Dc09Receiver.lease_until < now))
                .values(holder=self.instance, lease_until=until)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        if held == 1:
            self._held_until[receiver] = until
        else:
            self._held_until.pop(receiver, None)
        return held == 1

    def let_go(self, receiver: str) -> None:
        """Stop holding `receiver` (a clean stop), so another instance may take it at once."""
        self._held_until.pop(receiver, None)
        with self.sessions() as session:
            session.execute(update(Dc09Receiver)
                            .where(Dc09Receiver.name == receiver, Dc09Receiver.holder == self.instance)
                            .values(holder=None, lease_until=None))
            session.commit()

    def head(self, receiver: str) -> QueuedMessage | None:
        """The oldest pending message of a receiver."""
        with self.sessions() as session:
            row = session.scalars(select(Dc09Message)
                                  .where(Dc09Message.receiver == receiver, Dc09Message.state == "pending")
                                  .order_by(Dc09Message.id).limit(1)).first()
            return _queued(row) if row is not None else None

    def next_sequence(self, receiver: str) -> int:
        """The receiver's next sequence number, 0001 to 9999 and round again."""
        with self.sessions() as session:
            sequence = self._advance(session, receiver)
            session.commit()
        return sequence

    def sequence_for(self, message: QueuedMessage) -> int:
        """The message's sequence number, given it on first transmission and kept for retransmissions."""
        if message.sequence is not None:
            return message.sequence
        with self.sessions() as session:
            sequence = self._advance(session, message.receiver)
            session.execute(update(Dc09Message).where(Dc09Message.id == message.id).values(sequence=sequence))
            session.commit()
        return sequence

    @staticmethod
    def _advance(session: Session, receiver: str) -> int:
        row = session.execute(
            update(Dc09Receiver).where(Dc09Receiver.name == receiver)
            .values(next_sequence=Dc09Receiver.next_sequence % SEQUENCE_MAX + 1)
            .returning(Dc09Receiver.next_sequence)
        ).one()
        after = int(row[0])
        return SEQUENCE_MAX if after == 1 else after - 1

    def _set(self, message_id: int, **values: Any) -> None:
        with self.sessions() as session:
            session.execute(update(Dc09Message).where(Dc09Message.id == message_id)
                            .values(attempts=Dc09Message.attempts + 1, **values))
            session.commit()

    def failed(self, message_id: int, error: str) -> None:
        self._set(message_id, last_error=error)

    def park(self, message_id: int, reason: str) -> None:
        self._set(message_id, state="parked", last_error=reason)

    def delivered(self, message_id: int) -> None:
        with self.sessions() as session:
            session.execute(delete(Dc09Message).where(Dc09Message.id == message_id))
            session.commit()

    def requeue_parked(self, receiver: str) -> int:
        """Send parked messages again (they go first: their ids are the oldest)."""
        with self.sessions() as session:
            count: int = session.execute(
                update(Dc09Message).where(Dc09Message.receiver == receiver, Dc09Message.state == "parked")
                .values(state="pending")
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        return count

    def counts(self, receiver: str) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(select(Dc09Message.state, func.count()).where(Dc09Message.receiver == receiver)
                                   .group_by(Dc09Message.state)).all()
        return {"pending": 0, "parked": 0} | {state: int(count) for state, count in rows}

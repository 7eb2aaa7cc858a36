"""The transactional outbox: every publication is committed with what caused it.

An alert, a revision, a health or rejection event, a device ack: each is
staged as an `outbox` row in the transaction that commits its cause
(`stage()`), so a crash anywhere leaves it there to be published. The
publisher (gateway/publisher.py) takes due rows, publishes them and, on the
broker's PUBACK, deletes them, or, for dispatch alerts, keeps them as `sent`
until dispatch sends a receipt, re-publishing with back-off meanwhile.

Claims are leases (`due_at` moves a lease ahead, `claimed_by` names the
instance), taken with FOR UPDATE SKIP LOCKED where the database has it
(PostgreSQL) and by a single atomic UPDATE on SQLite, so several instances
on one database do not publish the same row in normal operation. After a
crash a row may go out twice; every attempt after the first is counted and
flagged as a redelivery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Row, Table, bindparam, case, delete, func, select, update
from sqlalchemy.orm import Session

from gateway.dc09.queue import Report
from gateway.dc09.queue import stage as stage_dc09
from gateway.storage.base import StoreBase
from gateway.storage.claims import claim_rows
from gateway.storage.models import Alert, Command, OutboxEntry
from gateway.storage.notifications import stage as stage_notify
from gateway.storage.smsacks import Route, Staged, stage_acks, stage_routes

# dc09: a Contact ID report for the alarm-receiving centres, staged into their own table (gateway/dc09/queue.py).
# notify: people to tell about an alert (gateway/notify/), staged into notify_events.
# device_cmd: a remote command (gateway/commands.py), signed when published; its PUBACK makes the command `sent`.
# sms_route: an alert that came by SMS is answered by SMS (body: its sender), into sms_routes;
# sms_ack: an alert's state to its button by SMS when it has a route (gateway/sms/acks.py), into sms_acks.
Kind = Literal["dispatch_alert", "device_ack", "event", "dc09", "notify", "device_cmd", "sms_route", "sms_ack"]
_OWN_TABLES = ("dc09", "notify", "sms_route", "sms_ack")


@dataclass(frozen=True)
class Publication:
    """Something to publish, decided by the pipeline and staged with its cause."""

    kind: Kind
    topic: str
    qos: int = 1
    body: dict[str, Any] | None = None
    alert_id: str | None = None
    rev: int | None = None
    device_id: str | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A staged publication as the publisher sees it (a plain value, not an ORM row)."""

    id: int
    kind: str
    topic: str
    qos: int
    body: dict[str, Any] | None
    alert_id: str | None
    rev: int | None
    device_id: str | None
    attempts: int  # including the one this item is for

    @property
    def redelivery(self) -> bool:
        return self.attempts > 1


_COLUMNS = (OutboxEntry.id, OutboxEntry.kind, OutboxEntry.topic, OutboxEntry.qos, OutboxEntry.body,
            OutboxEntry.alert_id, OutboxEntry.rev, OutboxEntry.device_id, OutboxEntry.attempts)


def _item(row: OutboxEntry | Row[Any]) -> OutboxItem:
    return OutboxItem(row.id, row.kind, row.topic, row.qos, row.body, row.alert_id, row.rev, row.device_id,
                      row.attempts)


_ALERTS, _OUTBOX = cast(Table, Alert.__table__), cast(Table, OutboxEntry.__table__)
_MARK_PUBLISHED = (update(_ALERTS)
                   .where(_ALERTS.c.id == bindparam("b_alert"), _ALERTS.c.published_rev < bindparam("b_rev"))
                   .values(published_rev=bindparam("b_rev")))
_AWAIT_RECEIPT = (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_row"))
                  .values(state="sent", due_at=bindparam("b_due")))


def stage(session: Session, publications: Sequence[Publication], now: datetime, instance: str,
          lease_s: float) -> list[OutboxItem]:
    """Add publications to the caller's transaction, already claimed by this instance.

    A newer revision of an alert supersedes an older one still waiting:
    dispatch keeps only the newest revision anyway.
    """
    stage_dc09(session, [_report(p) for p in publications if p.kind == "dc09"], now)
    stage_notify(session, [(p.alert_id or "", p.body or {}) for p in publications if p.kind == "notify"], now)
    stage_routes(session, [Route(p.alert_id or "", (p.body or {})["sender"]) for p in publications
                           if p.kind == "sms_route"], now)
    stage_acks(session, [Staged(p.alert_id or "", p.device_id or "", (p.body or {})["ref"], (p.body or {})["state"])
                         for p in publications if p.kind == "sms_ack"], now)
    entries = []
    for p in publications:
        if p.kind in _OWN_TABLES:
            continue
        if p.kind == "dispatch_alert" and p.rev and p.rev > 1:
            session.execute(delete(OutboxEntry).where(OutboxEntry.kind == "dispatch_alert",
                                                      OutboxEntry.alert_id == p.alert_id, OutboxEntry.rev < p.rev))
        entries.append(OutboxEntry(
            kind=p.kind, topic=p.topic, qos=p.qos, body=p.body, alert_id=p.alert_id, rev=p.rev,
            device_id=p.device_id, state="pending", attempts=1, due_at=now + timedelta(seconds=lease_s),
            claimed_by=instance, created_at=now, unreceipted_reported=False,
        ))
    session.add_all(entries)
    if entries:
        session.flush()  # numbers the rows
    return [_item(e) for e in entries]


def _report(publication: Publication) -> Report:
    body = publication.body or {}
    return Report(f"alert:{publication.alert_id}", publication.device_id or "", body["contact_id"],
                  tuple(body.get("extended", ())))


@dataclass(frozen=True)
class Unreceipted:
    alert_id: str
    rev: int


class OutboxStore(StoreBase):
    def claim_due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Take up to `limit` due rows, oldest first, for this instance."""
        with self.sessions() as session:
            rows = claim_rows(session, OutboxEntry, OutboxEntry.due_at <= now, limit, _COLUMNS,
                              claimed_by=self.instance, due_at=now + timedelta(seconds=self.lease_s),
                              attempts=OutboxEntry.attempts + 1)
            session.commit()
        return sorted((_item(r) for r in rows), key=lambda item: item.id)

    def release_mine(self, now: datetime) -> int:
        """Make this instance's unpublished claims due now (at start, or after losing the broker)."""
        with self.sessions() as session:
            count: int = session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.claimed_by == self.instance, OutboxEntry.state == "pending",
                       OutboxEntry.due_at > now)
                .values(due_at=now)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        return count

    def release(self, ids: Sequence[int], at: datetime) -> None:
        """Publishing these failed: due again at `at`."""
        if not ids:
            return
        with self.sessions() as session:
            session.execute(update(OutboxEntry).where(OutboxEntry.id.in_(ids)).values(due_at=at))
            session.commit()

    def confirm(self, items: Sequence[OutboxItem], now: datetime,
                receipt_backoff: Callable[[OutboxItem], float] | None) -> None:
        """The broker PUBACKed these. Done, except dispatch alerts awaiting a receipt.

        `receipt_backoff` gives the delay before re-publishing an unreceipted
        dispatch alert; None when receipts are not awaited.
        """
        if not items:
            return
        published = [{"b_alert": i.alert_id, "b_rev": i.rev} for i in items if i.kind == "dispatch_alert"]
        awaiting = [{"b_row": i.id, "b_due": now + timedelta(seconds=receipt_backoff(i))}
                    for i in items if i.kind == "dispatch_alert" and receipt_backoff is not None]
        waiting = {entry["b_row"] for entry in awaiting}
        finished = [i.id for i in items if i.id not in waiting]
        commands = [i.body["id"] for i in items if i.kind == "device_cmd" and i.body]
        with self.sessions() as session:
            if commands:  # the device may have answered already: then only sent_at is new
                session.execute(update(Command).where(Command.id.in_(commands), Command.sent_at.is_(None))
                                .values(sent_at=now, status=case((Command.status == "pending", "sent"),
                                                                 else_=Command.status)))
            # One statement each, executed for many rows (executemany).
            if published:
                session.execute(_MARK_PUBLISHED, published)
            if awaiting:
                session.execute(_AWAIT_RECEIPT, awaiting)
            if finished:
                session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(finished)))
            session.commit()

    def forget(self, ids: Sequence[int]) -> None:
        """Nothing to publish for these any more (a superseded revision, a removed device)."""
        if ids:
            with self.sessions() as session:
                session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(ids)))
                session.commit()

    def receipt(self, alert_id: str, rev: int) -> int:
        """Dispatch received revision `rev` of an alert: it and older ones are done. Returns rows closed."""
        with self.sessions() as session:
            # The alert row first, then its outbox rows: the order confirm() and every other writer
            # take them in; the other way round deadlocks with a concurrent confirm() on PostgreSQL.
            session.execute(update(Alert).where(Alert.id == alert_id, Alert.published_rev < rev)
                            .values(published_rev=rev))
            closed: int = session.execute(
                delete(OutboxEntry).where(OutboxEntry.kind == "dispatch_alert", OutboxEntry.alert_id == alert_id,
                                          OutboxEntry.rev <= rev)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        return closed

    def report_unreceipted(self, now: datetime, after_s: float,
                           plan: Callable[[list[Unreceipted]], list[Publication]]) -> tuple[list[Unreceipted],
                                                                                              list[OutboxItem]]:
        """Dispatch alerts committed more than `after_s` ago that no consumer has receipted.

        Each is reported once (by one instance): the rows are flagged and the
        events `plan` makes of them are staged in the same transaction.
        """
        cutoff = now - timedelta(seconds=after_s)
        late = (OutboxEntry.kind == "dispatch_alert") & (OutboxEntry.created_at <= cutoff) & (
            OutboxEntry.unreceipted_reported.is_(False))
        with self.sessions() as session:
            rows = session.execute(select(OutboxEntry.id, OutboxEntry.alert_id, OutboxEntry.rev).where(late)
                                   .order_by(OutboxEntry.id).limit(100)).all()
            found = []
            for row in rows:
                flagged = session.execute(update(OutboxEntry).where(OutboxEntry.id == row.id, late)
                                          .values(unreceipted_reported=True)).rowcount  # type: ignore[attr-defined]
                if flagged == 1 and row.alert_id is not None and row.rev is not None:
                    found.append(Unreceipted(row.alert_id, row.rev))
            items = stage(session, plan(found), now, self.instance, self.lease_s) if found else []
            session.commit()
        return found, items

    def stage_alone(self, publications: Sequence[Publication], now: datetime) -> list[OutboxItem]:
        """Stage publications that no other change comes with (a refusal's answer), in a transaction of their own."""
        with self.sessions() as session:
            items = stage(session, publications, now, self.instance, self.lease_s)
            session.commit()
        return items

    def outbox_backlog(self) -> int:
        with self.sessions() as session:
            return int(session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one())

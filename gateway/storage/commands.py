"""Remote commands: stored and staged for the device in one transaction, then their results.

A command row and its outbox row (kind `device_cmd`) are committed together,
so a command the API accepted is published even after a crash, and the
outbox's guarantees (published until the broker's PUBACK) are the command's.
Its `cseq` is one above the device's highest, given in that transaction
(the device row is locked on PostgreSQL; a collision on SQLite or between
instances is retried), so a device sees its commands' cseqs increase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from gateway.protocol import device_topic
from gateway.storage.base import StoreBase
from gateway.storage.common import StoreError, as_utc
from gateway.storage.models import Command, Device
from gateway.storage.outbox import OutboxItem, Publication, stage

WAITING = ("pending", "sent")  # statuses a result may still end
_ATTEMPTS = 5  # cseq collisions with a concurrent request before giving up


@dataclass(frozen=True)
class CommandView:
    """A command as the API shows it (plain values, outliving the session)."""

    id: int
    device_id: str
    cseq: int
    cmd: str
    args: dict[str, Any]
    status: str  # pending, sent, ok, rejected, expired
    reason: str | None
    result: dict[str, Any] | None
    requested_by: str
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None


def view(row: Command, now: datetime) -> CommandView:
    expires_at = as_utc(row.expires_at)
    status = "expired" if row.status in WAITING and now > expires_at else row.status
    return CommandView(row.id, row.device_id, row.cseq, row.cmd, dict(row.args), status, row.reason,
                       dict(row.result) if row.result is not None else None, row.requested_by,
                       as_utc(row.created_at), expires_at, as_utc(row.sent_at) if row.sent_at else None,
                       as_utc(row.answered_at) if row.answered_at else None)


def unsigned_body(device_id: str, cseq: int, cmd: str, args: dict[str, Any], expires_at: datetime) -> dict[str, Any]:
    """The command as staged; rendering adds `ts` (in the member order of the vectors) and signs it."""
    return {"v": 1, "dev": device_id, "cseq": cseq, "cmd": cmd, "args": args, "exp": int(expires_at.timestamp())}


class CommandStore(StoreBase):
    def create_command(self, device_id: str, cmd: str, args: dict[str, Any], requested_by: str, now: datetime,
                       ttl_s: int) -> tuple[CommandView, list[OutboxItem]]:
        """Store a command for an active device and stage its publication; StoreError otherwise."""
        expires_at = now + timedelta(seconds=ttl_s)
        for _ in range(_ATTEMPTS):
            with self.sessions() as session:
                device = session.get(Device, device_id, with_for_update=True)
                if device is None:
                    raise StoreError("not_found", f"no device {device_id}")
                if device.status != "active":
                    raise StoreError("conflict", f"device {device_id} is {device.status}")
                highest = session.execute(select(func.max(Command.cseq)).where(Command.device_id == device_id))
                cseq = (highest.scalar_one() or 0) + 1
                row = Command(device_id=device_id, cseq=cseq, cmd=cmd, args=args, status="pending",
                              requested_by=requested_by, created_at=now, expires_at=expires_at)
                session.add(row)
                try:
                    session.flush()
                except IntegrityError:
                    session.rollback()
                    continue  # another request took this cseq: number again
                body = {"id": row.id, "cmd": unsigned_body(device_id, cseq, cmd, args, expires_at)}
                staged = stage(session, [Publication("device_cmd", device_topic(device_id, "cmd"), 1, body,
                                                     device_id=device_id)], now, self.instance, self.lease_s)
                session.commit()
                return view(row, now), staged
        raise StoreError("conflict", f"commands for {device_id} are being created at the same moment; retry")

    def command(self, device_id: str, command_id: int, now: datetime) -> CommandView:
        with self.sessions() as session:
            row = session.get(Command, command_id)
            if row is None or row.device_id != device_id:
                raise StoreError("not_found", f"no command {command_id} for device {device_id}")
            return view(row, now)

    def commands(self, device_id: str, now: datetime, limit: int) -> list[CommandView]:
        """The device's newest commands first; not_found for a device that does not exist."""
        with self.sessions() as session:
            if session.get(Device, device_id) is None:
                raise StoreError("not_found", f"no device {device_id}")
            rows = session.scalars(select(Command).where(Command.device_id == device_id)
                                   .order_by(Command.cseq.desc()).limit(limit))
            return [view(row, now) for row in rows]

    def record_result(self, device_id: str, result: dict[str, Any], now: datetime) -> bool:
        """The device's verified result ends its command, if that one still waits; False otherwise.

        The first result wins: one for a command already answered (a command
        published twice after a crash is answered `replay` the second time)
        changes nothing.
        """
        with self.sessions() as session:
            ended = session.execute(
                update(Command).where(Command.device_id == device_id, Command.cseq == result["cseq"],
                                      Command.status.in_(WAITING))
                .values(status=result["status"], reason=result["reason"], result=result, answered_at=now)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        return bool(ended)


"""The raw SMS inbox (gateway/sms/ingress.py) and the devices' registered SIM numbers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.models import DeviceSim, SmsInbox


@dataclass(frozen=True)
class Kept:
    id: int
    pdu: str
    done: bool


class SmsStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def keep(self, pdu: str, now: datetime) -> Kept:
        """Store an SMS as read from the SIM, committed before anything is done with it; the same PDU
        read again (the SIM slot was not deleted yet) is the row already there."""
        pdu = pdu.strip().upper()
        digest = hashlib.sha256(pdu.encode()).hexdigest()
        for _ in range(2):
            with self.sessions() as session:
                row = session.scalars(select(SmsInbox).where(SmsInbox.digest == digest)).one_or_none()
                if row is not None:
                    return Kept(row.id, row.pdu, row.state == "done")
                row = SmsInbox(digest=digest, pdu=pdu, state="pending", received_at=now)
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # stored by another reader at the same moment
                    session.rollback()
                    continue
                return Kept(row.id, pdu, False)
        raise RuntimeError("could not store the SMS")

    def pending(self) -> list[Kept]:
        """SMS stored and not yet judged (a gateway that died meanwhile), oldest first."""
        with self.sessions() as session:
            rows = session.scalars(select(SmsInbox).where(SmsInbox.state == "pending").order_by(SmsInbox.id))
            return [Kept(row.id, row.pdu, False) for row in rows]

    def done(self, row_id: int, sender: str | None, outcome: str, now: datetime) -> None:
        with self.sessions() as session:
            row = session.get(SmsInbox, row_id)
            if row is not None:
                row.state, row.sender, row.outcome, row.done_at = "done", sender, outcome[:40], now
                session.commit()

    def outcomes(self) -> list[tuple[str, str | None, str | None]]:
        """(state, sender, outcome) of every stored SMS, oldest first: for operators and tests."""
        with self.sessions() as session:
            return [(r.state, r.sender, r.outcome) for r in session.scalars(select(SmsInbox).order_by(SmsInbox.id))]

    def sim_number(self, device_id: str) -> str | None:
        with self.sessions() as session:
            return session.scalar(select(DeviceSim.sim_number).where(DeviceSim.device_id == device_id))

    def is_known_number(self, number: str) -> bool:
        """Whether some registered device has this SIM number."""
        with self.sessions() as session:
            found = session.scalar(select(DeviceSim.device_id).where(DeviceSim.sim_number == number).limit(1))
            return found is not None

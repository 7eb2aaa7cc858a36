"""The replay window in storage: judge verified messages and commit the new ones.

The one delicate operation of the gateway: deciding new / duplicate /
replay and committing an alert in a single transaction whose window update
is a compare-and-set, so two gateway instances sharing a database can never
both accept the same message. The publications the pipeline decides for
the batch are staged in that same transaction (gateway/storage/outbox.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import lifecycle, protocol, replay
from gateway.storage.alerts import request_cancel
from gateway.storage.base import StoreBase
from gateway.storage.models import Alert, AlertTransition, Device
from gateway.storage.outbox import OutboxItem, Publication, stage


class CasContention(RuntimeError):
    """Other instances kept moving the same windows; trying again later will do."""


_SIGN_BIT = 1 << 63
CAS_ATTEMPTS = 8
_DEVICES = cast(Table, Device.__table__)
# The compare-and-set of one device's window, as one Core statement (run with executemany).
_SWAP = (
    update(_DEVICES)
    .where(_DEVICES.c.id == bindparam("device"), _DEVICES.c.replay_high == bindparam("old_high"),
           _DEVICES.c.replay_bitmap == bindparam("old_bitmap"))
    .values(replay_high=bindparam("high"), replay_bitmap=bindparam("bitmap"), last_seen_at=bindparam("seen"))
)


def _to_db(bitmap: int) -> int:
    """Unsigned 64-bit window bitmap -> signed BIGINT."""
    return bitmap - (1 << 64) if bitmap & _SIGN_BIT else bitmap


def _from_db(value: int) -> int:
    return value & ((1 << 64) - 1)


@dataclass(frozen=True)
class Candidate:
    """A verified message waiting to be judged against the replay window."""

    device_id: str
    seq: int
    payload: bytes
    body: dict[str, Any] | None  # None for heartbeats, which are not stored


@dataclass(frozen=True)
class Acceptance:
    verdict: Literal["new", "duplicate", "replay", "unknown"]
    alert: Alert | None = None  # the stored alert for alert messages (new or duplicate)
    revised: Alert | None = None  # a new cancel's target, now in state cancel_requested


# Decides, from a batch's verdicts, what to publish; called inside the
# transaction (perhaps more than once: a lost compare-and-set judges again),
# so it must be free of side effects.
Plan = Callable[[list[Acceptance]], list[Publication]]


class WindowStore(StoreBase):
    def accept(
        self, device_id: str, seq: int, payload: bytes, body: dict[str, Any] | None, now: datetime
    ) -> Acceptance:
        """Judge and, when new, commit one verified message. `body` is None for heartbeats."""
        return self.accept_many([Candidate(device_id, seq, payload, body)], now)[0]

    def accept_many(self, candidates: Sequence[Candidate], now: datetime) -> list[Acceptance]:
        return self.accept_and_stage(candidates, now, lambda _judged: [])[0]

    def accept_and_stage(self, candidates: Sequence[Candidate], now: datetime,
                         plan: Plan) -> tuple[list[Acceptance], list[OutboxItem]]:
        """Judge verified messages in order; commit the new ones and `plan`'s publications in one transaction.

        One transaction (one fsync) for a whole batch is what lets a single
        gateway keep up with thousands of heartbeats a second. Each device's
        window is written back with one compare-and-set; if any fails
        (another instance got there first), the whole batch is judged again.
        """
        for _ in range(CAS_ATTEMPTS):
            judged = self._try_accept(candidates, now, plan)
            if judged is not None:
                return judged
        raise CasContention("compare-and-set on the replay windows kept failing")

    def _try_accept(self, candidates: Sequence[Candidate], now: datetime,
                    plan: Plan) -> tuple[list[Acceptance], list[OutboxItem]] | None:
        device_ids = sorted({c.device_id for c in candidates})
        with self.sessions() as session:
            # Read the windows before looking for stored copies: if another
            # instance commits one of these messages in between, either our CAS
            # fails (and we judge again) or we see its stored copy: never
            # "replay" for what is really a duplicate.
            stored_windows = {
                row.id: (row.replay_high, row.replay_bitmap)
                for row in session.execute(
                    select(Device.id, Device.replay_high, Device.replay_bitmap).where(Device.id.in_(device_ids))
                )
            } if device_ids else {}
            alert_ids = [f"{c.device_id}:{c.seq}" for c in candidates if c.body is not None]
            stored: dict[str, Alert] = {}
            if alert_ids:
                stored = {a.id: a for a in session.execute(select(Alert).where(Alert.id.in_(alert_ids))).scalars()}
            windows = {d: (high, _from_db(bitmap)) for d, (high, bitmap) in stored_windows.items()}
            judged: list[Acceptance] = []
            for c in candidates:
                judged.append(self._judge(session, c, windows, stored, now))
            try:
                if not self._swap_windows(session, stored_windows, windows, now):
                    session.rollback()
                    return None  # another instance moved one of these windows first
                staged = stage(session, plan(judged), now, self.instance, self.lease_s)
                session.commit()
            except IntegrityError:
                session.rollback()  # another instance stored one of these alerts first
                return None
            return judged, staged

    @staticmethod
    def _swap_windows(session: Session, stored: dict[str, tuple[int, int]], windows: dict[str, tuple[int, int]],
                      now: datetime) -> bool:
        """Write the moved windows back, each only if it is still as read: one executemany for the batch.

        A Core UPDATE executed with a list of parameters is one prepared
        statement run once per device (psycopg pipelines it), where an ORM
        `update(Device)` per device rebuilt the statement every time and was
        most of the worker's time under a fleet's heartbeats. The summed
        rowcount says whether every compare-and-set held.
        """
        moved = [
            {"device": device_id, "old_high": stored[device_id][0], "old_bitmap": stored[device_id][1],
             "high": high, "bitmap": _to_db(bitmap), "seen": now}
            for device_id, (high, bitmap) in windows.items()
            if (high, _to_db(bitmap)) != stored[device_id]
        ]
        if not moved:
            return True
        swapped = session.connection().execute(_SWAP, moved).rowcount
        return bool(swapped == len(moved))

    def _escalate_at(self, alert_type: str, now: datetime) -> datetime | None:
        """When a new alert escalates if nobody acknowledges it (gateway/escalation.py); None: never."""
        after = self.escalate_after_s
        return now + timedelta(seconds=after) if after and lifecycle.escalates(alert_type) else None

    def _judge(self, session: Session, c: Candidate, windows: dict[str, tuple[int, int]], stored: dict[str, Alert],
               now: datetime) -> Acceptance:
        if c.device_id not in windows:
            return Acceptance("unknown")  # removed since its key was looked up
        alert_id = f"{c.device_id}:{c.seq}"
        if c.body is not None and alert_id in stored:
            same = protocol.same_alert(bytes(stored[alert_id].payload), stored[alert_id].type, c.payload, c.body)
            return Acceptance("duplicate", stored[alert_id]) if same else Acceptance("replay")
        high, bitmap = windows[c.device_id]
        decision = replay.decide(high, bitmap, c.seq)
        if decision.verdict == "replay" and not (c.body is not None and replay.below_window(high, c.seq)):
            return Acceptance("replay")
        # New; an alert below the window (rule 4: stored alerts need no window,
        # and a button that lost power twice may deliver one late) leaves it as it is.
        windows[c.device_id] = (decision.high, decision.bitmap)
        if c.body is None:
            return Acceptance("new")
        alert = Alert(
            id=alert_id, device_id=c.device_id, seq=c.seq, type=c.body["type"], state="new", rev=1,
            published_rev=0, payload=c.payload, body=c.body, received_at=now, updated_at=now,
        )
        escalate_at = self._escalate_at(c.body["type"], now)
        if escalate_at is not None:
            alert.escalate_at = escalate_at
        session.add(alert)
        stored[alert_id] = alert  # the same message twice in one batch is a duplicate
        if alert.type == "cancel":
            target_id = f"{c.device_id}:{c.body['ref']}"
            target = stored.get(target_id) or session.get(Alert, target_id, with_for_update=True)
            revised = request_cancel(target, alert, now)
            if revised is not None:  # a step of the target's timeline, as police's are
                session.add(AlertTransition(alert_id=revised.id, at=now, state=revised.state, by="button",
                                            note=revised.note, rev=revised.rev, escalation=None))
            return Acceptance("new", alert, revised)
        return Acceptance("new", alert)

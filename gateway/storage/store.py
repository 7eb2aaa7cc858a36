"""All reads and writes of the gateway go through `Store`.

The one delicate operation is `accept()`: deciding new / duplicate / replay
and committing an alert in a single transaction whose window update is a
compare-and-set, so two gateway instances sharing a database can never both
accept the same message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway import replay
from gateway.storage.common import StoreError, as_utc, utcnow
from gateway.storage.models import Alert, Device, Owner, Premises
from gateway.storage.registry import DeviceKeys, RegistryStore

__all__ = ["Acceptance", "AlertContext", "Candidate", "CasContention", "Store", "StoreError", "as_utc", "utcnow"]

_SIGN_BIT = 1 << 63
REGISTRY_CACHE_SECONDS = 5.0  # how stale owner/premises data in an enriched alert may be
CAS_ATTEMPTS = 8


def _to_db(bitmap: int) -> int:
    """Unsigned 64-bit window bitmap -> signed BIGINT."""
    return bitmap - (1 << 64) if bitmap & _SIGN_BIT else bitmap


def _from_db(value: int) -> int:
    return value & ((1 << 64) - 1)


class CasContention(RuntimeError):
    """Other instances kept moving the same windows; trying again later will do."""


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


@dataclass(frozen=True)
class AlertContext:
    """Everything enrichment needs about one alert."""

    alert: Alert
    device: Device
    owner: Owner
    premises: Premises
    recent_alerts: int
    false_alarms: int
    last_alert_at: datetime | None


# Dispatch may move an alert forward only; resolved and cancelled are final.
_NEXT_STATES = {
    "new": {"acknowledged", "dispatched", "resolved", "cancelled"},
    "acknowledged": {"dispatched", "resolved", "cancelled"},
    "dispatched": {"resolved", "cancelled"},
    "resolved": set(),
    "cancelled": set(),
}


class Store:
    def __init__(self, sessions: sessionmaker[Session], history_days: int = 30) -> None:
        self.sessions = sessions
        self.history_days = history_days
        self.registry = RegistryStore(sessions)
        self._registry: dict[str, tuple[float, tuple[Device, Owner, Premises]]] = {}

    # --- the ingest path ---------------------------------------------------------

    def device_keys(self, device_id: str) -> DeviceKeys | None:
        """The device's status and the keys that verify its messages (cached briefly)."""
        return self.registry.device_keys(device_id)

    def device_key(self, device_id: str) -> bytes | None:
        """The current key of an active registered device, or None: what acks are signed with."""
        keys = self.registry.device_keys(device_id)
        return keys.current if keys is not None and keys.status == "active" else None

    def accept(
        self, device_id: str, seq: int, payload: bytes, body: dict[str, Any] | None, now: datetime
    ) -> Acceptance:
        """Judge and, when new, commit one verified message. `body` is None for heartbeats."""
        return self.accept_many([Candidate(device_id, seq, payload, body)], now)[0]

    def accept_many(self, candidates: Sequence[Candidate], now: datetime) -> list[Acceptance]:
        """Judge verified messages in order and commit the new ones in one transaction.

        One transaction (one fsync) for a whole batch is what lets a single
        gateway keep up with thousands of heartbeats a second. Each device's
        window is written back with one compare-and-set; if any fails
        (another instance got there first), the whole batch is judged again.
        """
        for _ in range(CAS_ATTEMPTS):
            judged = self._try_accept(candidates, now)
            if judged is not None:
                return judged
        raise CasContention("compare-and-set on the replay windows kept failing")

    def _try_accept(self, candidates: Sequence[Candidate], now: datetime) -> list[Acceptance] | None:
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
            }
            alert_ids = [f"{c.device_id}:{c.seq}" for c in candidates if c.body is not None]
            stored: dict[str, Alert] = {}
            if alert_ids:
                stored = {a.id: a for a in session.execute(select(Alert).where(Alert.id.in_(alert_ids))).scalars()}
            windows = {d: (high, _from_db(bitmap)) for d, (high, bitmap) in stored_windows.items()}
            judged: list[Acceptance] = []
            for c in candidates:
                judged.append(self._judge(session, c, windows, stored, now))
            try:
                for device_id, (high, bitmap) in windows.items():
                    old_high, old_bitmap = stored_windows[device_id]
                    if (high, _to_db(bitmap)) == (old_high, old_bitmap):
                        continue
                    swapped = session.execute(
                        update(Device)
                        .where(Device.id == device_id, Device.replay_high == old_high,
                               Device.replay_bitmap == old_bitmap)
                        .values(replay_high=high, replay_bitmap=_to_db(bitmap), last_seen_at=now)
                    ).rowcount  # type: ignore[attr-defined]
                    if swapped != 1:
                        session.rollback()
                        return None  # another instance moved this window first
                session.commit()
            except IntegrityError:
                session.rollback()  # another instance stored one of these alerts first
                return None
            return judged

    @staticmethod
    def _judge(session: Session, c: Candidate, windows: dict[str, tuple[int, int]], stored: dict[str, Alert],
               now: datetime) -> Acceptance:
        if c.device_id not in windows:
            return Acceptance("unknown")  # removed since its key was looked up
        alert_id = f"{c.device_id}:{c.seq}"
        if c.body is not None and alert_id in stored:
            same = bytes(stored[alert_id].payload) == c.payload
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
        session.add(alert)
        stored[alert_id] = alert  # the same message twice in one batch is a duplicate
        return Acceptance("new", alert)

    def context(self, alert_id: str, alert: Alert | None = None) -> AlertContext:
        """The alert with its device, owner, premises and history.

        Pass the alert when it is at hand (just committed): then only the
        history is queried; the registry side comes from a short cache,
        since owners and premises change rarely and alerts may come in bursts.
        """
        with self.sessions() as session:
            if alert is None:
                alert = session.get(Alert, alert_id)
                if alert is None:
                    raise StoreError("not_found", f"no alert {alert_id}")
            device, owner, premises = self._registry_of(session, alert.device_id)
            since = as_utc(alert.received_at) - timedelta(days=self.history_days)
            # History: this device's alerts before this one.
            recent, false_alarms, last = session.execute(
                select(
                    func.coalesce(func.sum(case((and_(Alert.received_at >= since, Alert.type != "test"), 1),
                                                else_=0)), 0),
                    func.coalesce(func.sum(case((Alert.false_alarm.is_(True), 1), else_=0)), 0),
                    func.max(Alert.received_at),
                ).where(Alert.device_id == device.id, Alert.id != alert.id,
                        Alert.received_at <= alert.received_at)
            ).one()
            return AlertContext(alert, device, owner, premises, int(recent), int(false_alarms),
                                as_utc(last) if last else None)

    def _registry_of(self, session: Session, device_id: str) -> tuple[Device, Owner, Premises]:
        cached = self._registry.get(device_id)
        now = time.monotonic()
        if cached and now - cached[0] < REGISTRY_CACHE_SECONDS:
            return cached[1]
        row = session.execute(
            select(Device, Owner, Premises)
            .join(Owner, Owner.id == Device.owner_id)
            .join(Premises, Premises.id == Device.premises_id)
            .where(Device.id == device_id)
        ).one()
        entry = (row[0], row[1], row[2])
        self._registry[device_id] = (now, entry)
        return entry

    def unpublished(self) -> list[str]:
        """Alerts whose newest revision has not reached the dispatch topics."""
        with self.sessions() as session:
            rows = session.execute(
                select(Alert.id).where(Alert.published_rev < Alert.rev).order_by(Alert.received_at)
            ).scalars()
            return list(rows)

    def mark_published_many(self, items: Sequence[tuple[str, int]]) -> None:
        """Record that these revisions reached the dispatch topic (the broker PUBACKed them)."""
        with self.sessions() as session:
            for alert_id, rev in items:
                session.execute(
                    update(Alert).where(Alert.id == alert_id, Alert.published_rev < rev).values(published_rev=rev)
                )
            session.commit()

    def set_dispatch_state(
        self, alert_id: str, state: str, by: str, note: str | None, false_alarm: bool, now: datetime
    ) -> tuple[Alert, bool]:
        """Apply a dispatcher's acknowledgement; returns (alert, changed)."""
        with self.sessions() as session:
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None:
                raise StoreError("not_found", f"no alert {alert_id}")
            if alert.state == state and not (false_alarm and not alert.false_alarm):
                return alert, False
            if state not in _NEXT_STATES.get(alert.state, set()):
                raise StoreError("conflict", f"alert {alert_id} is {alert.state}; cannot become {state}")
            alert.state = state
            alert.rev += 1
            alert.acted_by = by
            alert.note = note
            alert.false_alarm = alert.false_alarm or false_alarm
            alert.updated_at = now
            session.commit()
            return alert, True

    def set_online(self, device_id: str, online: bool, firmware: str | None, now: datetime) -> bool:
        """Record a device's status message; True when the device's online state changed.

        A birth (online) is the device speaking, so it counts as being heard;
        the will (offline) is the broker speaking for it, so it does not.
        """
        with self.sessions() as session:
            device = session.get(Device, device_id)
            if device is None:
                return False
            changed = device.online is not online
            device.online = online
            if changed:
                device.online_changed_at = now
            if firmware:
                device.firmware = firmware[:40]
            if online:
                device.last_seen_at = now
            session.commit()
        self._registry.pop(device_id, None)  # firmware and online state feed enrichment
        return changed

    def supervise(self, now: datetime, offline_after_s: float) -> tuple[list[str], list[str]]:
        """Flip devices silent for `offline_after_s` to offline, and devices heard since then back.

        Returns (went silent, came back). Each flip is a conditional UPDATE, so
        with several gateway instances exactly one reports it.
        """
        cutoff = now - timedelta(seconds=offline_after_s)
        silent_rule = and_(Device.online.is_(True), Device.last_seen_at < cutoff)
        back_rule = and_(
            or_(Device.online.is_(False), Device.online.is_(None)),
            Device.last_seen_at >= cutoff,
            or_(Device.online_changed_at.is_(None), Device.last_seen_at > Device.online_changed_at),
        )
        flipped: tuple[list[str], list[str]] = ([], [])
        with self.sessions() as session:
            for rule, online, out in ((silent_rule, False, flipped[0]), (back_rule, True, flipped[1])):
                for device_id in session.execute(select(Device.id).where(rule)).scalars().all():
                    done = session.execute(
                        update(Device).where(Device.id == device_id, rule)
                        .values(online=online, online_changed_at=now)
                    ).rowcount  # type: ignore[attr-defined]
                    if done == 1:
                        out.append(device_id)
            session.commit()
        for device_id in (*flipped[0], *flipped[1]):
            self._registry.pop(device_id, None)
        return flipped

    # --- the registry (gateway/storage/registry.py) ----------------------------------

    def create_owner(
        self, name: str, phone: str, contacts: list[dict[str, Any]], premises: Sequence[dict[str, Any]]
    ) -> tuple[Owner, list[Premises]]:
        return self.registry.create_owner(name, phone, contacts, premises)

    def add_premises(self, owner_id: str, premises: dict[str, Any]) -> Premises:
        return self.registry.add_premises(owner_id, premises)

    def get_owner(self, owner_id: str) -> tuple[Owner, list[Premises]]:
        return self.registry.get_owner(owner_id)

    def register_device(self, device_id: str, owner_id: str, premises_id: str, key_hex: str) -> Device:
        device = self.registry.register_device(device_id, owner_id, premises_id, key_hex)
        self._registry.pop(device_id, None)
        return device

    def get_device(self, device_id: str) -> Device:
        return self.registry.get_device(device_id)

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

    def ping(self) -> None:
        with self.sessions() as session:
            session.execute(select(1))

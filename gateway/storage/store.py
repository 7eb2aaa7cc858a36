"""All reads and writes of the gateway go through `Store`, one class per concern.

    window.py       the replay window: judge and commit device messages
    alerts.py       alerts, their revisions and enrichment context
    supervision.py  online / offline: status messages, heartbeat silence
    outbox.py       publications committed with their cause, until confirmed
    profiles.py     who is behind a device, as plain values, cached briefly

`Store` composes them (and keeps the registry: owners, premises, devices,
keys), so callers hold one object and every transaction stays in one module.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.alerts import AlertContext as AlertContext
from gateway.storage.alerts import AlertStore
from gateway.storage.common import StoreError as StoreError
from gateway.storage.common import as_utc as as_utc
from gateway.storage.common import utcnow as utcnow
from gateway.storage.models import Device, Owner, Premises
from gateway.storage.outbox import OutboxStore
from gateway.storage.profiles import Profiles
from gateway.storage.supervision import SupervisionStore
from gateway.storage.window import Acceptance as Acceptance
from gateway.storage.window import Candidate as Candidate
from gateway.storage.window import CasContention as CasContention
from gateway.storage.window import WindowStore

KEY_CACHE_SECONDS = 30.0  # how stale a key may be after a rotation on another instance
DEFAULT_LEASE_S = 30.0


class Store(WindowStore, AlertStore, SupervisionStore, OutboxStore):
    def __init__(self, sessions: sessionmaker[Session], history_days: int = 30, *,
                 instance: str = "panic-gateway-1", lease_s: float = DEFAULT_LEASE_S) -> None:
        self.sessions = sessions
        self.history_days = history_days
        self.instance = instance
        self.lease_s = lease_s
        self.profiles = Profiles()
        self._keys: dict[str, tuple[float, bytes | None]] = {}

    # --- the ingest path ---------------------------------------------------------

    def device_key(self, device_id: str) -> bytes | None:
        """The key of an active registered device, or None (cached briefly)."""
        cached = self._keys.get(device_id)
        now = time.monotonic()
        if cached and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        with self.sessions() as session:
            row = session.execute(
                select(Device.key_hex).where(Device.id == device_id, Device.status == "active")
            ).scalar_one_or_none()
        key = bytes.fromhex(row) if row else None
        self._keys[device_id] = (now, key)
        return key

    # --- the registry --------------------------------------------------------------

    def create_owner(
        self, name: str, phone: str, contacts: list[dict[str, Any]], premises: Sequence[dict[str, Any]]
    ) -> tuple[Owner, list[Premises]]:
        now = utcnow()
        with self.sessions() as session:
            owner = Owner(id=str(uuid.uuid4()), name=name, phone=phone, emergency_contacts=contacts,
                          created_at=now)
            session.add(owner)
            places = [Premises(id=str(uuid.uuid4()), owner_id=owner.id, created_at=now, **p) for p in premises]
            session.add_all(places)
            session.commit()
            return owner, places

    def add_premises(self, owner_id: str, premises: dict[str, Any]) -> Premises:
        with self.sessions() as session:
            if session.get(Owner, owner_id) is None:
                raise StoreError("not_found", f"no owner {owner_id}")
            place = Premises(id=str(uuid.uuid4()), owner_id=owner_id, created_at=utcnow(), **premises)
            session.add(place)
            session.commit()
            return place

    def get_owner(self, owner_id: str) -> tuple[Owner, list[Premises]]:
        with self.sessions() as session:
            owner = session.get(Owner, owner_id)
            if owner is None:
                raise StoreError("not_found", f"no owner {owner_id}")
            places = session.execute(select(Premises).where(Premises.owner_id == owner_id)).scalars()
            return owner, list(places)

    def register_device(self, device_id: str, owner_id: str, premises_id: str, key_hex: str) -> Device:
        with self.sessions() as session:
            place = session.get(Premises, premises_id)
            if place is None or place.owner_id != owner_id:
                raise StoreError("invalid", f"premises {premises_id} does not belong to owner {owner_id}")
            if session.get(Device, device_id) is not None:
                raise StoreError("conflict", f"device {device_id} is already registered")
            device = Device(id=device_id, owner_id=owner_id, premises_id=premises_id, key_hex=key_hex,
                            status="active", replay_high=0, replay_bitmap=0, created_at=utcnow())
            session.add(device)
            session.commit()
        self._keys.pop(device_id, None)
        self.profiles.forget(device_id)
        return device

    def get_device(self, device_id: str) -> Device:
        with self.sessions() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise StoreError("not_found", f"no device {device_id}")
            return device

    def ping(self) -> None:
        with self.sessions() as session:
            session.execute(select(1))

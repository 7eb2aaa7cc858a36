"""Who is behind a device, as plain values: what enrichment and events need.

Owners and premises change rarely and alerts come in bursts, so a profile is
cached for a few seconds. The cache holds frozen dataclasses, never ORM
objects: those belong to the session (and thread) that loaded them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.models import Device, Owner, Premises

PROFILE_CACHE_SECONDS = 5.0  # how stale owner/premises data in an enriched alert may be


@dataclass(frozen=True)
class OwnerProfile:
    name: str
    phone: str
    emergency_contacts: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class PremisesProfile:
    kind: str
    address: str
    lat_e7: int | None
    lon_e7: int | None


@dataclass(frozen=True)
class DeviceProfile:
    device_id: str
    firmware: str | None
    owner: OwnerProfile
    premises: PremisesProfile


class Profiles:
    """A short-lived, thread-safe cache of device profiles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, DeviceProfile | None]] = {}

    def get(self, session: Session, device_id: str) -> DeviceProfile | None:
        """The device's profile, or None for a device that is not registered."""
        now = time.monotonic()
        with self._lock:
            cached = self._cached.get(device_id)
        if cached and now - cached[0] < PROFILE_CACHE_SECONDS:
            return cached[1]
        row = session.execute(
            select(Device, Owner, Premises)
            .join(Owner, Owner.id == Device.owner_id)
            .join(Premises, Premises.id == Device.premises_id)
            .where(Device.id == device_id)
        ).one_or_none()
        profile = None
        if row is not None:
            device, owner, place = row
            profile = DeviceProfile(
                device.id, device.firmware,
                OwnerProfile(owner.name, owner.phone, tuple(owner.emergency_contacts)),
                PremisesProfile(place.kind, place.address, place.lat_e7, place.lon_e7),
            )
        with self._lock:
            self._cached[device_id] = (now, profile)
        return profile

    def forget(self, *device_ids: str) -> None:
        with self._lock:
            for device_id in device_ids:
                self._cached.pop(device_id, None)

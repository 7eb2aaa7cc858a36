"""The registry's storage: owners, premises, devices and their keys.

Device keys are read on every device message, so they are cached per
instance for `KEY_CACHE_SECONDS`. A rotation or revocation clears this
instance's entry at once; other instances see it within that time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.common import StoreError, as_utc, utcnow
from gateway.storage.models import Device, DeviceSim, Owner, Premises

KEY_CACHE_SECONDS = 30.0  # how stale a key may be after a rotation or revocation on another instance
KEY_CACHE_ENTRIES = 100_000  # least recently used entries beyond this are dropped

KeyName = Literal["current", "previous"]


@dataclass(frozen=True)
class DeviceKeys:
    """What verifying a device's message needs: its status and the keys that may have signed it."""

    status: str
    current: bytes
    previous: bytes | None = None
    previous_until: datetime | None = None

    def verifying(self, now: datetime) -> Iterator[tuple[KeyName, bytes]]:
        """The current key, then the previous one while its grace period lasts."""
        yield "current", self.current
        if self.previous is not None and self.previous_until is not None and now < self.previous_until:
            yield "previous", self.previous


def _aware(when: datetime) -> datetime:
    """A stored time as UTC-aware (SQLite gives it back naive)."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def heard_from(device: Device) -> bool:
    """Whether the device ever used its credentials (a message, a birth, or a will on its connection)."""
    return device.last_seen_at is not None or device.online is not None


def _set_sim(session: Session, device_id: str, sim_number: str | None) -> None:
    row = session.get(DeviceSim, device_id)
    if sim_number is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(DeviceSim(device_id=device_id, sim_number=sim_number))
    else:
        row.sim_number = sim_number


def _device(session: Session, device_id: str, *, lock: bool = False) -> Device:
    device = session.get(Device, device_id, with_for_update=lock)
    if device is None:
        raise StoreError("not_found", f"no device {device_id}")
    return device


def _registration_problem(session: Session, device_id: str, owner_id: str, premises_id: str) -> Device | None:
    """Raise when `device_id` may not be (re-)registered to this owner and premises; return its row if any.

    A device registered to the same owner and premises that has never been
    heard from may be registered again: its earlier credentials were never
    confirmed delivered, so issuing new ones loses nothing.
    """
    place = session.get(Premises, premises_id)
    if place is None or place.owner_id != owner_id:
        raise StoreError("invalid", f"premises {premises_id} does not belong to owner {owner_id}")
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        return None
    if device.status == "revoked":
        raise StoreError("conflict", f"device {device_id} was revoked; a revoked device id is not reused")
    if (device.owner_id, device.premises_id) != (owner_id, premises_id):
        raise StoreError("conflict", f"device {device_id} is registered to another owner or premises")
    if heard_from(device):
        raise StoreError("conflict", f"device {device_id} is registered and in use; "
                                     f"POST /devices/{device_id}/rotate issues new credentials")
    return device


class RegistryStore:
    def __init__(self, sessions: sessionmaker[Session], *, key_cache_s: float = KEY_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self.key_cache_s = key_cache_s
        self.clock = clock
        self._keys: OrderedDict[str, tuple[float, DeviceKeys | None]] = OrderedDict()
        self._keys_lock = threading.Lock()
        # Bumped by every forget_keys: a lookup that read the database before a
        # rotation or revocation must not put its stale answer into the cache after it.
        self._generation = 0

    # --- keys, on every device message ---------------------------------------------

    def device_keys(self, device_id: str) -> DeviceKeys | None:
        """The device's status and keys, or None when it is not registered (cached briefly)."""
        now = self.clock()
        with self._keys_lock:
            cached = self._keys.get(device_id)
            if cached and now - cached[0] < self.key_cache_s:
                self._keys.move_to_end(device_id)
                return cached[1]
            generation = self._generation
        with self.sessions() as session:
            row = session.execute(
                select(Device.status, Device.key_hex, Device.previous_key_hex, Device.previous_key_until)
                .where(Device.id == device_id)
            ).one_or_none()
        keys = None
        if row is not None:
            keys = DeviceKeys(row.status, bytes.fromhex(row.key_hex),
                              bytes.fromhex(row.previous_key_hex) if row.previous_key_hex else None,
                              as_utc(row.previous_key_until) if row.previous_key_until else None)
        with self._keys_lock:
            if generation == self._generation:
                self._keys[device_id] = (now, keys)
                self._keys.move_to_end(device_id)
                while len(self._keys) > KEY_CACHE_ENTRIES:
                    self._keys.popitem(last=False)
        return keys

    def forget_keys(self, device_id: str) -> None:
        with self._keys_lock:
            self._keys.pop(device_id, None)
            self._generation += 1

    # --- owners and premises -------------------------------------------------------

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

    def set_emergency_contacts(self, owner_id: str, contacts: list[dict[str, Any]]) -> list[str]:
        """Replace the owner's emergency contacts; returns the owner's devices (whose profiles changed)."""
        with self.sessions() as session:
            owner = session.get(Owner, owner_id, with_for_update=True)
            if owner is None:
                raise StoreError("not_found", f"no owner {owner_id}")
            owner.emergency_contacts = contacts
            devices = list(session.execute(select(Device.id).where(Device.owner_id == owner_id)).scalars())
            session.commit()
            return devices

    def get_owner(self, owner_id: str) -> tuple[Owner, list[Premises]]:
        with self.sessions() as session:
            owner = session.get(Owner, owner_id)
            if owner is None:
                raise StoreError("not_found", f"no owner {owner_id}")
            places = session.execute(select(Premises).where(Premises.owner_id == owner_id)).scalars()
            return owner, list(places)

    # --- devices -------------------------------------------------------------------

    def get_device(self, device_id: str) -> Device:
        with self.sessions() as session:
            return _device(session, device_id)

    def check_registration(self, device_id: str, owner_id: str, premises_id: str) -> bool:
        """Raise if the registration cannot succeed; True when the device is new (not a retry)."""
        with self.sessions() as session:
            return _registration_problem(session, device_id, owner_id, premises_id) is None

    def register_device(self, device_id: str, owner_id: str, premises_id: str, key_hex: str,
                        sim_number: str | None = None) -> Device:
        """Store a new device, or give a registered one never heard from a new key (a retry)."""
        try:
            with self.sessions() as session:
                device = _registration_problem(session, device_id, owner_id, premises_id)
                if device is None:
                    device = Device(id=device_id, owner_id=owner_id, premises_id=premises_id, key_hex=key_hex,
                                    status="active", replay_high=0, replay_bitmap=0, created_at=utcnow())
                    session.add(device)
                else:
                    device.key_hex = key_hex
                    device.previous_key_hex = device.previous_key_until = None
                if sim_number is not None:  # a retry without one keeps what was registered
                    session.flush()  # the device row first: the SIM's row refers to it
                    _set_sim(session, device_id, sim_number)
                session.commit()
        except IntegrityError:
            raise StoreError("conflict", f"device {device_id} was registered at the same moment "
                                         "by another request; retry") from None
        self.forget_keys(device_id)
        return device

    def check_active(self, device_id: str) -> Device:
        """The device, if it exists and is not revoked."""
        device = self.get_device(device_id)
        if device.status != "active":
            raise StoreError("conflict", f"device {device_id} is {device.status}")
        return device

    def rotate_key(self, device_id: str, key_hex: str, previous_until: datetime,
                   previous_hex: str | None = None) -> Device:
        """Make `key_hex` the device's key; the one it replaces verifies until `previous_until`.

        `previous_hex`: the key the device still holds when it is not the current one (a console re-key cut
        before the unit stored the key it was issued: that key was never used and is simply replaced)."""
        with self.sessions() as session:
            device = _device(session, device_id, lock=True)
            if device.status != "active":
                raise StoreError("conflict", f"device {device_id} is {device.status}")
            device.previous_key_hex = previous_hex if previous_hex is not None else device.key_hex
            device.previous_key_until = previous_until
            device.key_hex = key_hex
            session.commit()
        self.forget_keys(device_id)
        return device

    def end_grace(self, device_id: str) -> Device:
        """The previous key stops verifying now (its grace ends). Idempotent."""
        with self.sessions() as session:
            device = _device(session, device_id, lock=True)
            if device.previous_key_until is not None:  # already past or not: it ends now at the latest
                device.previous_key_until = min(utcnow(), _aware(device.previous_key_until))
            session.commit()
        self.forget_keys(device_id)
        return device

    def set_sim_number(self, device_id: str, sim_number: str | None) -> Device:
        """The button's SIM was replaced (or its number is now known): what SMS senders are compared with."""
        with self.sessions() as session:
            device = _device(session, device_id, lock=True)
            _set_sim(session, device_id, sim_number)
            session.commit()
        return device

    def sim_number(self, device_id: str) -> str | None:
        with self.sessions() as session:
            return session.scalar(select(DeviceSim.sim_number).where(DeviceSim.device_id == device_id))

    def revoke(self, device_id: str) -> Device:
        """Mark the device revoked: none of its keys verifies any more. Idempotent."""
        with self.sessions() as session:
            device = _device(session, device_id, lock=True)
            device.status = "revoked"
            device.previous_key_hex = device.previous_key_until = None
            session.commit()
        self.forget_keys(device_id)
        return device

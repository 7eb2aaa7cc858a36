"""The registry's storage on SQLite and, where one is reachable, PostgreSQL: keys through
registration, a retried registration, rotation and revocation; the key cache."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from gateway.storage.db import make_engine, session_factory
from gateway.storage.registry import RegistryStore
from gateway.storage.store import StoreError, utcnow

DEVICE = "pb-00000000c0de"
FIRST, SECOND, THIRD = "11" * 32, "22" * 32, "33" * 32


def registry_on(database_url: str) -> tuple[RegistryStore, str, str]:
    registry = RegistryStore(session_factory(make_engine(database_url)))
    owner, places = registry.create_owner("Owner", "+62 721 000", [], [
        {"kind": "shop", "address": "Jl. Test 1", "lat_e7": None, "lon_e7": None}])
    return registry, owner.id, places[0].id


def test_keys_through_a_devices_life(database_url: str) -> None:
    registry, owner_id, premises_id = registry_on(database_url)
    assert registry.device_keys(DEVICE) is None
    assert registry.check_registration(DEVICE, owner_id, premises_id) is True
    registry.register_device(DEVICE, owner_id, premises_id, FIRST)
    assert registry.check_registration(DEVICE, owner_id, premises_id) is False  # a retry
    registry.register_device(DEVICE, owner_id, premises_id, SECOND)
    now = utcnow()
    keys = registry.device_keys(DEVICE)
    assert keys is not None and list(keys.verifying(now)) == [("current", bytes.fromhex(SECOND))]

    until = now + timedelta(hours=1)
    registry.rotate_key(DEVICE, THIRD, until)
    keys = registry.device_keys(DEVICE)
    assert keys is not None and keys.previous_until == until
    assert list(keys.verifying(now)) == [("current", bytes.fromhex(THIRD)), ("previous", bytes.fromhex(SECOND))]
    assert list(keys.verifying(until)) == [("current", bytes.fromhex(THIRD))]

    assert registry.revoke(DEVICE).status == "revoked"
    keys = registry.device_keys(DEVICE)
    assert keys is not None and keys.status == "revoked" and keys.previous is None
    with pytest.raises(StoreError, match="revoked"):
        registry.check_registration(DEVICE, owner_id, premises_id)
    with pytest.raises(StoreError, match="revoked"):
        registry.rotate_key(DEVICE, FIRST, until)


def test_a_lookup_racing_a_rotation_does_not_cache_the_old_key(database_url: str) -> None:
    """A lookup that read the old key before a rotation finishes after it: its answer is not cached."""
    registry, owner_id, premises_id = registry_on(database_url)
    registry.register_device(DEVICE, owner_id, premises_id, FIRST)
    read, rotated = threading.Event(), threading.Event()
    sessions = registry.sessions

    class SlowSession:  # the lookup's session: pauses after reading until the rotation is done
        def __init__(self) -> None:
            self.session = sessions()

        def __enter__(self) -> object:
            return self

        def __exit__(self, *exc: object) -> None:
            self.session.close()

        def execute(self, *args: object) -> object:
            result = self.session.execute(*args)  # type: ignore[call-overload]
            read.set()
            rotated.wait(10)
            return result

    registry.sessions = SlowSession  # type: ignore[assignment]
    lookup = threading.Thread(target=registry.device_keys, args=(DEVICE,))
    lookup.start()
    read.wait(10)
    registry.sessions = sessions
    registry.rotate_key(DEVICE, SECOND, utcnow())
    rotated.set()
    lookup.join()
    keys = registry.device_keys(DEVICE)
    assert keys is not None and keys.current == bytes.fromhex(SECOND)

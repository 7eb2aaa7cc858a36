"""Registering a button to its owner and premises; issuing, rotating and revoking its credentials.

The device key (HMAC) and the broker password are generated here and
returned exactly once; afterwards only a fingerprint of the key is shown.

Every step is safe to retry. The broker account is written first (an
idempotent set) and the database last, so an answer that never reached
the caller leaves at worst credentials nobody holds, which a retry
replaces: registration retried for a device never heard from issues new
ones; rotation retried rotates again. Revocation marks the device revoked
first (its messages are refused at once) and then removes the broker
account; retried, it removes the account again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from broker.accounts import BrokerAccounts
from broker.credentials import new_password
from gateway.dc09.account import AccountScheme
from gateway.dc09.registration import account_clash
from gateway.protocol import DEVICE_ID
from gateway.storage.common import StoreError, utcnow
from gateway.storage.models import Device
from gateway.storage.registry import RegistryStore

log = logging.getLogger("gateway.registry")


def key_fingerprint(key_hex: str) -> str:
    """What a technician compares instead of the key: 8 hex digits of its SHA-256."""
    return hashlib.sha256(bytes.fromhex(key_hex)).hexdigest()[:8]


@dataclass(frozen=True)
class IssuedDevice:
    device: Device
    device_key_hex: str
    mqtt_username: str
    mqtt_password: str
    created: bool  # False when a retry or a rotation replaced earlier credentials


class Registry:
    def __init__(self, store: RegistryStore, accounts: BrokerAccounts | None, key_grace_s: float,
                 dc09_accounts: Sequence[AccountScheme] = ()) -> None:
        self.store = store
        self.accounts = accounts
        self.key_grace = timedelta(seconds=key_grace_s)
        self.dc09_accounts = list(dc09_accounts)  # one per configured alarm-receiving centre

    def register_device(self, device_id: str, owner_id: str, premises_id: str,
                        sim_number: str | None = None) -> IssuedDevice:
        """Register a device, or complete a registration whose answer was lost (new credentials)."""
        if not DEVICE_ID.fullmatch(device_id):
            raise StoreError("invalid", "device_id must be pb- and 12 lowercase hex digits")
        # Refuse what cannot succeed before touching the broker: a conflicting
        # request must not change the password of a device in use.
        created = self.store.check_registration(device_id, owner_id, premises_id)
        self._check_dc09_account(device_id)
        key_hex, password = secrets.token_bytes(32).hex(), new_password()
        self._set_account(device_id, password)
        device = self.store.register_device(device_id, owner_id, premises_id, key_hex, sim_number)
        log.info("device %s %s (key %s)", device_id, "registered" if created else "re-issued",
                 key_fingerprint(key_hex))
        return IssuedDevice(device, key_hex, device_id, password, created)

    def rotate_device(self, device_id: str) -> IssuedDevice:
        """New key and broker password; the old key verifies for the grace period."""
        self.store.check_active(device_id)
        key_hex, password = secrets.token_bytes(32).hex(), new_password()
        self._set_account(device_id, password)
        device = self.store.rotate_key(device_id, key_hex, utcnow() + self.key_grace)
        log.info("device %s rotated to key %s", device_id, key_fingerprint(key_hex))
        return IssuedDevice(device, key_hex, device_id, password, created=False)

    def console_rekey(self, device_id: str, nonce: str, unit_key_fingerprint: str) -> tuple[IssuedDevice, str]:
        """New credentials for a registered unit over its serial console, and the proof its `set_secrets`
        wants: an HMAC with the key the unit holds now (protocol/console.md). Retry-safe: when the unit
        still holds the key the last re-key replaced (the new one never reached it), that key stays the
        previous one and the unused one is replaced; the unit's proof is made with the key it holds."""
        device = self.store.check_active(device_id)
        if unit_key_fingerprint == key_fingerprint(device.key_hex):
            holding, previous = device.key_hex, None
        elif device.previous_key_hex and unit_key_fingerprint == key_fingerprint(device.previous_key_hex):
            holding = previous = device.previous_key_hex
        else:
            raise StoreError("conflict", f"the unit holds key {unit_key_fingerprint}, which is not the key this "
                                         f"gateway issued to {device_id}: it is registered elsewhere")
        key_hex, password = secrets.token_bytes(32).hex(), new_password()
        self._set_account(device_id, password)
        device = self.store.rotate_key(device_id, key_hex, utcnow() + self.key_grace, previous)
        log.info("device %s re-keyed over the console to key %s (unit held %s)", device_id,
                 key_fingerprint(key_hex), unit_key_fingerprint)
        proof = hmac.new(bytes.fromhex(holding), f"console\n{device_id} {nonce} set_secrets".encode(),
                         hashlib.sha256).hexdigest()
        return IssuedDevice(device, key_hex, device_id, password, created=False), proof

    def end_grace(self, device_id: str) -> Device:
        """The key before the last rotation stops verifying now (the unit delivered what it signed with it)."""
        self.store.check_active(device_id)
        device = self.store.end_grace(device_id)
        log.info("device %s: previous key no longer accepted", device_id)
        return device

    def revoke_device(self, device_id: str) -> Device:
        """Refuse the device's messages from now on and remove its broker account (kicking it)."""
        device = self.store.revoke(device_id)
        if self.accounts is not None:
            try:
                self.accounts.remove(device_id)
            except OSError as exc:
                raise _broker_unreachable(exc, "the device is revoked but its broker account is not "
                                               "removed yet; retry") from None
        log.warning("device %s revoked", device_id)
        return device

    def _check_dc09_account(self, device_id: str) -> None:
        """Refuse a button that alarm-receiving centres could not tell from another (gateway/dc09/registration.py)."""
        if not self.dc09_accounts:
            return
        with self.store.sessions() as session:
            active = session.scalars(select(Device.id).where(Device.status == "active")).all()
        clash = account_clash(self.dc09_accounts, device_id, active)
        if clash is not None:
            raise StoreError("conflict", clash)

    def _set_account(self, device_id: str, password: str) -> None:
        if self.accounts is None:
            return
        try:
            self.accounts.set(device_id, password)
        except OSError as exc:
            raise _broker_unreachable(exc, "nothing was issued; retry") from None


def _broker_unreachable(exc: OSError, consequence: str) -> StoreError:
    # The caller gets no broker detail; the log gets the error's type and
    # text (an OSError never carries the password).
    log.warning("broker account service failed: %s: %s", type(exc).__name__, exc)
    return StoreError("unavailable", f"the broker's account service is not reachable: {consequence}")

"""Registering a button to its owner and premises, and issuing its credentials.

The device key (HMAC) and the broker password are generated here and
returned exactly once; afterwards only a fingerprint of the key is shown.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from broker.accounts import BrokerAccounts
from broker.credentials import new_password
from gateway.protocol import DEVICE_ID
from gateway.storage.models import Device
from gateway.storage.store import Store, StoreError


def key_fingerprint(key_hex: str) -> str:
    """What a technician compares instead of the key: 8 hex digits of its SHA-256."""
    return hashlib.sha256(bytes.fromhex(key_hex)).hexdigest()[:8]


@dataclass(frozen=True)
class IssuedDevice:
    device: Device
    device_key_hex: str
    mqtt_username: str
    mqtt_password: str


class Registry:
    def __init__(self, store: Store, broker_passwords: BrokerAccounts | None) -> None:
        self.store = store
        self.broker_passwords = broker_passwords

    def register_device(self, device_id: str, owner_id: str, premises_id: str) -> IssuedDevice:
        if not DEVICE_ID.fullmatch(device_id):
            raise StoreError("invalid", "device_id must be pb- and 12 lowercase hex digits")
        key_hex = secrets.token_bytes(32).hex()
        device = self.store.register_device(device_id, owner_id, premises_id, key_hex)
        password = new_password()
        if self.broker_passwords is not None:
            self.broker_passwords.set(device_id, password)
        return IssuedDevice(device, key_hex, device_id, password)

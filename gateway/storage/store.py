"""All reads and writes of the gateway go through `Store`, one class per concern.

    window.py       the replay window: judge and commit device messages
    alerts.py       alerts, their revisions and enrichment context
    supervision.py  online / offline: status messages, heartbeat silence
    outbox.py       publications committed with their cause, until confirmed
    escalation.py   escalation timers: one compare-and-set per level
    notifications.py  people to tell: events, then one message per recipient, until sent
    commands.py     remote commands to devices and their results
    smsacks.py      alert states told to buttons by SMS: one row per alert and state, until sent
    profiles.py     who is behind a device, as plain values, cached briefly
    console.py      what the operator console reads (gateway/console/)

    registry.py     owners, premises, devices and their keys (RegistryStore)

`Store` composes them, so callers hold one object and every transaction
stays in one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.alerts import AlertContext as AlertContext
from gateway.storage.alerts import AlertStore
from gateway.storage.commands import CommandStore
from gateway.storage.common import StoreError as StoreError
from gateway.storage.common import as_utc as as_utc
from gateway.storage.common import utcnow as utcnow
from gateway.storage.console import ConsoleStore
from gateway.storage.escalation import EscalationStore
from gateway.storage.models import Device, Owner, Premises
from gateway.storage.notifications import NotificationStore
from gateway.storage.outbox import OutboxStore
from gateway.storage.profiles import Profiles
from gateway.storage.registry import DeviceKeys, RegistryStore
from gateway.storage.smsacks import SmsAckStore
from gateway.storage.supervision import SupervisionStore
from gateway.storage.window import Acceptance as Acceptance
from gateway.storage.window import Candidate as Candidate
from gateway.storage.window import CasContention as CasContention
from gateway.storage.window import WindowStore

DEFAULT_LEASE_S = 30.0


class Store(WindowStore, AlertStore, SupervisionStore, OutboxStore, EscalationStore, NotificationStore,
            ConsoleStore, CommandStore, SmsAckStore):
    def __init__(self, sessions: sessionmaker[Session], history_days: int = 30, *,
                 instance: str = "panic-gateway-1", lease_s: float = DEFAULT_LEASE_S,
                 escalate_after_s: float | None = None) -> None:
        self.sessions = sessions
        self.history_days = history_days
        self.instance = instance
        self.lease_s = lease_s
        self.escalate_after_s = escalate_after_s
        self.profiles = Profiles()
        self.registry = RegistryStore(sessions)

    # --- the ingest path ---------------------------------------------------------

    def device_keys(self, device_id: str) -> DeviceKeys | None:
        """The device's status and the keys that verify its messages (cached briefly)."""
        return self.registry.device_keys(device_id)

    def device_key(self, device_id: str) -> bytes | None:
        """The current key of an active registered device, or None: what acks are signed with."""
        keys = self.registry.device_keys(device_id)
        return keys.current if keys is not None and keys.status == "active" else None

    # --- the registry (gateway/storage/registry.py) ----------------------------------

    def create_owner(
        self, name: str, phone: str, contacts: list[dict[str, Any]], premises: Sequence[dict[str, Any]]
    ) -> tuple[Owner, list[Premises]]:
        return self.registry.create_owner(name, phone, contacts, premises)

    def add_premises(self, owner_id: str, premises: dict[str, Any]) -> Premises:
        return self.registry.add_premises(owner_id, premises)

    def set_emergency_contacts(self, owner_id: str, contacts: list[dict[str, Any]]) -> None:
        self.profiles.forget(*self.registry.set_emergency_contacts(owner_id, contacts))

    def get_owner(self, owner_id: str) -> tuple[Owner, list[Premises]]:
        return self.registry.get_owner(owner_id)

    def register_device(self, device_id: str, owner_id: str, premises_id: str, key_hex: str) -> Device:
        device = self.registry.register_device(device_id, owner_id, premises_id, key_hex)
        self.profiles.forget(device_id)
        return device

    def get_device(self, device_id: str) -> Device:
        return self.registry.get_device(device_id)

    def ping(self) -> None:
        with self.sessions() as session:
            session.execute(select(1))

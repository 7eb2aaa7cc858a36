"""What the operator console reads (gateway/console/): its alerts, offline devices, and a change mark.

Everything comes from the database, so a console on any gateway instance
sees what every instance did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from gateway.lifecycle import ENDS
from gateway.storage.base import StoreBase
from gateway.storage.common import as_utc
from gateway.storage.models import Alert, Device, Owner, Premises

# An alert in one of these states needs nobody any more (the states of docs/protocol.md and the lifecycle).
CLOSED_STATES = tuple(sorted(ENDS))  # the lifecycle's ends (gateway/lifecycle.py)


@dataclass(frozen=True)
class DeviceStatus:
    """A device's supervision as stored: online (None: never known), last heard, last flip."""

    device_id: str
    online: bool | None
    last_seen_at: datetime | None
    online_changed_at: datetime | None


@dataclass(frozen=True)
class OfflineDevice:
    status: DeviceStatus
    owner_name: str
    owner_phone: str
    address: str


# Changes when any alert is stored or revised, or any device goes on- or offline.
ChangeMark = tuple[object, ...]


def _status(device: Device) -> DeviceStatus:
    return DeviceStatus(device.id, device.online, as_utc(device.last_seen_at) if device.last_seen_at else None,
                        as_utc(device.online_changed_at) if device.online_changed_at else None)


class ConsoleStore(StoreBase):
    def console_alert_ids(self, closed_limit: int) -> list[str]:
        """Every open alert, then the newest `closed_limit` closed ones; newest first in each part."""
        with self.sessions() as session:
            newest = Alert.received_at.desc()
            open_ids = session.execute(
                select(Alert.id).where(Alert.state.not_in(CLOSED_STATES)).order_by(newest)).scalars().all()
            closed_ids = session.execute(
                select(Alert.id).where(Alert.state.in_(CLOSED_STATES)).order_by(newest).limit(closed_limit)
            ).scalars().all()
            return [*open_ids, *closed_ids]

    def device_statuses(self, device_ids: set[str]) -> dict[str, DeviceStatus]:
        if not device_ids:
            return {}
        with self.sessions() as session:
            devices = session.execute(select(Device).where(Device.id.in_(device_ids))).scalars()
            return {d.id: _status(d) for d in devices}

    def offline_devices(self) -> list[OfflineDevice]:
        """Active devices supervision declared offline, the longest silent first."""
        with self.sessions() as session:
            rows = session.execute(
                select(Device, Owner.name, Owner.phone, Premises.address)
                .join(Owner, Owner.id == Device.owner_id).join(Premises, Premises.id == Device.premises_id)
                .where(Device.online.is_(False), Device.status == "active")
                .order_by(Device.last_seen_at.asc(), Device.id)
            ).all()
            return [OfflineDevice(_status(device), name, phone, address) for device, name, phone, address in rows]

    def console_mark(self) -> ChangeMark:
        """A few aggregates that change whenever what the console shows changes (one cheap query each)."""
        with self.sessions() as session:
            alerts = session.execute(select(func.count(Alert.id), func.coalesce(func.sum(Alert.rev), 0),
                                            func.max(Alert.updated_at))).one()
            online = func.count(Device.id).filter(Device.online.is_(True))
            devices = session.execute(select(func.count(Device.id), online, func.max(Device.online_changed_at))).one()
            return (*alerts, *devices)

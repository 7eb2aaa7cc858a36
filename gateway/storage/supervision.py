"""Device supervision in storage: status messages and heartbeat silence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from gateway.storage.base import StoreBase
from gateway.storage.models import Device
from gateway.storage.outbox import OutboxItem, Publication, stage


@dataclass(frozen=True)
class Flips:
    """Devices whose online state changed, and what was staged about them."""

    silent: list[str] = field(default_factory=list)
    back: list[str] = field(default_factory=list)
    staged: list[OutboxItem] = field(default_factory=list)


# (device id, online now) -> what to publish about it
HealthPlan = Callable[[str, bool], list[Publication]]


class SupervisionStore(StoreBase):
    def set_online(self, device_id: str, online: bool, firmware: str | None, now: datetime,
                   plan: HealthPlan = lambda _device, _online: []) -> Flips:
        """Record a device's status message; a change of online state stages `plan`'s publications.

        A birth (online) is the device speaking, so it counts as being heard;
        the will (offline) is the broker speaking for it, so it does not.
        """
        with self.sessions() as session:
            device = session.get(Device, device_id)
            if device is None:
                return Flips()
            changed = device.online is not online
            device.online = online
            if changed:
                device.online_changed_at = now
            if firmware:
                device.firmware = firmware[:40]
            if online:
                device.last_seen_at = now
            staged = stage(session, plan(device_id, online), now, self.instance, self.lease_s) if changed else []
            session.commit()
        self.profiles.forget(device_id)  # firmware feeds enrichment
        if not changed:
            return Flips()
        return Flips([] if online else [device_id], [device_id] if online else [], staged)

    def supervise(self, now: datetime, offline_after_s: float,
                  plan: HealthPlan = lambda _device, _online: []) -> Flips:
        """Flip devices silent for `offline_after_s` to offline, and devices heard since then back.

        Each flip is a conditional UPDATE, so with several gateway instances
        exactly one reports it; its publications are staged with it.
        """
        cutoff = now - timedelta(seconds=offline_after_s)
        silent_rule = and_(Device.online.is_(True), Device.last_seen_at < cutoff)
        back_rule = and_(
            or_(Device.online.is_(False), Device.online.is_(None)),
            Device.last_seen_at >= cutoff,
            or_(Device.online_changed_at.is_(None), Device.last_seen_at > Device.online_changed_at),
        )
        flips = Flips()
        with self.sessions() as session:
            publications = []
            for rule, online, out in ((silent_rule, False, flips.silent), (back_rule, True, flips.back)):
                for device_id in session.execute(select(Device.id).where(rule)).scalars().all():
                    done = session.execute(
                        update(Device).where(Device.id == device_id, rule)
                        .values(online=online, online_changed_at=now)
                    ).rowcount  # type: ignore[attr-defined]
                    if done == 1:
                        out.append(device_id)
                        publications += plan(device_id, online)
            flips.staged.extend(stage(session, publications, now, self.instance, self.lease_s))
            session.commit()
        return flips

"""What the storage modules share at run time: sessions, the profile cache, this instance's name."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.profiles import DeviceProfile, Profiles


class StoreBase:
    """Attributes the per-concern storage classes rely on; `Store` sets them."""

    sessions: sessionmaker[Session]
    history_days: int
    profiles: Profiles
    # Outbox claims: who this instance is, and how long a claim holds before
    # another instance (or this one, restarted) may take the row again.
    instance: str
    lease_s: float
    # Escalation (gateway/escalation.py): a new emergency alert not acknowledged this long
    # escalates; None: alerts stored by this instance never escalate.
    escalate_after_s: float | None

    def device_profile(self, device_id: str) -> DeviceProfile | None:
        """Who is behind a device, or None for one not registered."""
        with self.sessions() as session:
            return self.profiles.get(session, device_id)

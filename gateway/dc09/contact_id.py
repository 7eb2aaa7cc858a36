"""Ademco Contact ID for our alert and device-event types.

The data block of an ADM-CID message is `#<account>|Q EEE GG CCC`:
Q the event qualifier (1 new event, 3 restore), EEE the event code,
GG the partition (group) and CCC the zone or, for open/close events, the user.

Choices (docs/dc09.md):
- GG is always 01: a button is a one-partition panel.
- CCC is zone 001, the button itself, for panic and tamper events; zone 000,
  the "panel", for system events (test, mains, battery); user 001, the
  registered owner, for the cancel (406 is a user event).
- Restores (Q=3) exist for tamper (enclosure closed again), power_lost (mains
  back) and battery_low (battery recovered); other types cannot be restored.
  The button reports them as their own types (tamper_restored,
  power_restored, battery_restored: gateway.protocol.RESTORES), which map to
  the base type's code and zone with Q=3.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.protocol import CONTACT_ID, RESTORES

NEW_EVENT, RESTORE = 1, 3
PARTITION = 1
BUTTON_ZONE, PANEL_ZONE, OWNER_USER = 1, 0, 1

# The zone (or user) of each type; the codes themselves are gateway.protocol.CONTACT_ID (the dispatch `cid`).
ZONES: dict[str, int] = {
    "sos": BUTTON_ZONE,
    "silent_sos": BUTTON_ZONE,
    "cancel": OWNER_USER,
    "test": PANEL_ZONE,
    "tamper": BUTTON_ZONE,
    "power_lost": PANEL_ZONE,
    "battery_low": PANEL_ZONE,
}
ZONES.update({restore: ZONES[base] for restore, base in RESTORES.items()})  # a restore: its condition's zone
RESTORABLE: frozenset[str] = frozenset({"tamper", "power_lost", "battery_low"})


@dataclass(frozen=True)
class ContactId:
    qualifier: int
    code: int
    partition: int
    zone: int

    def __post_init__(self) -> None:
        if self.qualifier not in (1, 3, 6) or not 0 <= self.code <= 999:
            raise ValueError(f"not a Contact ID event: qualifier {self.qualifier}, code {self.code}")
        if not 0 <= self.partition <= 99 or not 0 <= self.zone <= 999:
            raise ValueError(f"Contact ID partition {self.partition} or zone {self.zone} out of range")

    def text(self) -> str:
        return f"{self.qualifier}{self.code:03d} {self.partition:02d} {self.zone:03d}"


def contact_id_for(alert_type: str, restore: bool = False) -> ContactId:
    """The Contact ID event for one of our types; `restore` (or a *_restored type) for the end of a condition."""
    if alert_type in RESTORES:
        alert_type, restore = RESTORES[alert_type], True
    if alert_type not in CONTACT_ID:
        raise ValueError(f"no Contact ID code for type {alert_type!r}")
    if restore and alert_type not in RESTORABLE:
        raise ValueError(f"type {alert_type!r} has no restore")
    return ContactId(RESTORE if restore else NEW_EVENT, int(CONTACT_ID[alert_type]), PARTITION, ZONES[alert_type])

"""Request and response bodies of the registry API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Coordinates arrive as decimals with at most 7 places and are stored as
# integer 1e-7 degrees: exact, never a float.
Latitude = Decimal
Longitude = Decimal


class Contact(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=3, max_length=40)
    # The language the contact is texted in (gateway/notify/): Indonesian or English.
    lang: Literal["id", "en"] = "id"


class PremisesIn(BaseModel):
    kind: Literal["shop", "home", "office", "other"]
    address: str = Field(min_length=3, max_length=500)
    lat: Latitude | None = Field(default=None, ge=-90, le=90, decimal_places=7)
    lon: Longitude | None = Field(default=None, ge=-180, le=180, decimal_places=7)


class PremisesOut(BaseModel):
    id: str
    kind: str
    address: str
    lat: float | None
    lon: float | None


class OwnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=3, max_length=40)
    emergency_contacts: list[Contact] = Field(default_factory=list, max_length=5)
    premises: list[PremisesIn] = Field(min_length=1, max_length=50)


class ContactsIn(BaseModel):
    emergency_contacts: list[Contact] = Field(max_length=5)


class OwnerOut(BaseModel):
    id: str
    name: str
    phone: str
    emergency_contacts: list[Contact]
    premises: list[PremisesOut]


# E.164 as the network gives an SMS sender: "+", country code, number (docs/sms.md).
SIM_NUMBER = r"^\+[1-9][0-9]{6,14}$"


class DeviceIn(BaseModel):
    device_id: str = Field(pattern=r"^pb-[0-9a-f]{12}$")
    owner_id: str
    premises_id: str
    # The button's SIM number, optional: SMS alerts from another number are flagged (docs/sms.md).
    sim_number: str | None = Field(default=None, pattern=SIM_NUMBER)


class DeviceChange(BaseModel):
    """PATCH /devices/{id}: what may change on a registered device without new credentials."""

    model_config = ConfigDict(extra="forbid")

    sim_number: str | None = Field(pattern=SIM_NUMBER)


class ConsoleProofIn(BaseModel):
    """A unit's console challenge (protocol/console.md, "Who may change what")."""

    nonce: str = Field(pattern=r"^[0-9a-f]{32}$")
    op: Literal["configure", "set_secrets"]


class ConsoleProofOut(BaseModel):
    auth: str


class ConsoleRekeyIn(BaseModel):
    """A registered unit's console challenge and the fingerprint of the key it holds (its `info`)."""

    nonce: str = Field(pattern=r"^[0-9a-f]{32}$")
    key_fingerprint: str = Field(pattern=r"^[0-9a-f]{8}$")


class DeviceOut(BaseModel):
    device_id: str
    owner_id: str
    premises_id: str
    status: str
    firmware: str | None
    online: bool | None
    sim_number: str | None
    key_fingerprint: str
    # After a rotation: until when the previous key still verifies (RFC 3339), else null.
    previous_key_until: str | None


class DeviceIssued(DeviceOut):
    """Returned once, at registration or rotation: store these on the device now."""

    device_key: str
    mqtt_username: str
    mqtt_password: str


class DeviceRekeyed(DeviceIssued):
    """A console re-key: the new credentials and `auth`, the proof for the unit's `set_secrets` (made with
    the key the unit holds)."""

    auth: str


class AlertOut(BaseModel):
    alert_id: str
    device_id: str
    seq: int
    type: str
    state: str
    rev: int
    published: bool
    received_at: str
    false_alarm: bool
    acted_by: str | None
    note: str | None
    escalation_level: int


class TimelineStep(BaseModel):
    """One step of an alert's life: its first state (new, rev 1), a transition, or an escalation."""

    at: str
    state: str
    by: str | None
    note: str | None
    rev: int
    escalation: int | None


class AlertDetail(AlertOut):
    timeline: list[TimelineStep]


class NotificationOut(BaseModel):
    event: str
    channel: str
    recipient: str  # a phone number, or a webhook's key (never its URL)
    role: str
    lang: str
    state: str
    attempts: int
    last_error: str | None
    sent_at: str | None


class ErrorOut(BaseModel):
    detail: str


class CommandOut(BaseModel):
    """A remote command and where it stands (docs/operations.md, "Remote commands")."""

    id: int
    device_id: str
    cseq: int
    cmd: str
    args: dict[str, int]
    status: Literal["pending", "sent", "ok", "rejected", "expired"] = Field(
        description="pending: committed, not yet taken by the broker; sent: the broker has it; ok / rejected: "
                    "the device's signed answer; expired: no answer before expires_at")
    reason: str | None = Field(description="why the device rejected it (protocol/README.md, Commands)")
    result: dict[str, Any] | None = Field(description="the device's result body (locate: loc; test: seq)")
    requested_by: str
    created_at: str
    expires_at: str
    sent_at: str | None
    answered_at: str | None

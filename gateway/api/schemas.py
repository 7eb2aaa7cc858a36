"""Request and response bodies of the registry API."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

# Coordinates arrive as decimals with at most 7 places and are stored as
# integer 1e-7 degrees: exact, never a float.
Latitude = Decimal
Longitude = Decimal


class Contact(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=3, max_length=40)


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


class OwnerOut(BaseModel):
    id: str
    name: str
    phone: str
    emergency_contacts: list[Contact]
    premises: list[PremisesOut]


class DeviceIn(BaseModel):
    device_id: str = Field(pattern=r"^pb-[0-9a-f]{12}$")
    owner_id: str
    premises_id: str


class ConsoleProofIn(BaseModel):
    """A unit's console challenge (protocol/console.md, "Who may change what")."""

    nonce: str = Field(pattern=r"^[0-9a-f]{32}$")
    op: Literal["configure", "set_secrets"]


class ConsoleProofOut(BaseModel):
    auth: str


class DeviceOut(BaseModel):
    device_id: str
    owner_id: str
    premises_id: str
    status: str
    firmware: str | None
    online: bool | None
    key_fingerprint: str
    # After a rotation: until when the previous key still verifies (RFC 3339), else null.
    previous_key_until: str | None


class DeviceIssued(DeviceOut):
    """Returned once, at registration or rotation: store these on the device now."""

    device_key: str
    mqtt_username: str
    mqtt_password: str


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


class ErrorOut(BaseModel):
    detail: str

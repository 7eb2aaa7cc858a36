"""Turn a stored alert into the enriched record dispatch receives (docs/protocol.md).

Location: the device's GPS fix when it sent one, else the registered
premises location (an alert without a fix is still an alert), else none.
Coordinates come from exact sources (JSON text from the device, integer
1e-7 degrees from the registry) and are emitted with at most 7 decimals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.protocol import CONTACT_ID
from gateway.storage.alerts import AlertContext
from gateway.storage.common import as_utc
from gateway.storage.profiles import OwnerProfile, PremisesProfile


def rfc3339(moment: datetime) -> str:
    return as_utc(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def e7_to_degrees(value: int | None) -> float | None:
    # A 7-decimal value round-trips exactly through a double's shortest repr.
    return None if value is None else round(value / 10_000_000, 7)


def location(body: dict[str, Any], premises_lat: float | None, premises_lon: float | None) -> dict[str, Any]:
    loc = body.get("loc")
    if loc:
        return {"lat": loc["lat"], "lon": loc["lon"], "accuracy_m": loc["acc"], "source": loc["src"],
                "age_s": loc["age"]}
    if premises_lat is not None and premises_lon is not None:
        return {"lat": premises_lat, "lon": premises_lon, "accuracy_m": None, "source": "premises",
                "age_s": None}
    return {"lat": None, "lon": None, "accuracy_m": None, "source": "none", "age_s": None}


def owner_record(owner: OwnerProfile) -> dict[str, Any]:
    return {
        "name": owner.name,
        "phone": owner.phone,
        "emergency_contacts": [{"name": c["name"], "phone": c["phone"]} for c in owner.emergency_contacts],
    }


def premises_record(premises: PremisesProfile) -> dict[str, Any]:
    return {"kind": premises.kind, "address": premises.address,
            "lat": e7_to_degrees(premises.lat_e7), "lon": e7_to_degrees(premises.lon_e7)}


def dispatch_alert(ctx: AlertContext, redelivery: bool = False) -> dict[str, Any]:
    """`redelivery`: this revision may have reached dispatch before (a re-publication)."""
    alert, device = ctx.alert, ctx.profile
    body = alert.body
    premises = premises_record(device.premises)
    pressed_at = body.get("ts")
    return {
        "alert_id": alert.id,
        "rev": alert.rev,
        "type": alert.type,
        "cid": CONTACT_ID[alert.type],
        "state": alert.state,
        "test": alert.type == "test",
        "received_at": rfc3339(alert.received_at),
        "pressed_at": rfc3339(datetime.fromtimestamp(pressed_at, UTC)) if pressed_at is not None else None,
        "device": {
            "id": device.device_id,
            "firmware": device.firmware,
            "battery": body.get("bat"),
            "power": body.get("pwr"),
            "network": body.get("net"),
            "signal": body.get("rssi"),
        },
        "owner": owner_record(device.owner),
        "premises": premises,
        "location": location(body, premises["lat"], premises["lon"]),
        # Station routing (nearest Polsek/Polres) is the next piece of work:
        # until the station table exists every alert goes to the common topic.
        "station": None,
        "candidates": [],
        "history": {
            "recent_alerts": ctx.recent_alerts,
            "false_alarms": ctx.false_alarms,
            "last_alert_at": rfc3339(ctx.last_alert_at) if ctx.last_alert_at else None,
        },
        "redelivery": redelivery,
    }

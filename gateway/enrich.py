"""Turn a stored alert into the enriched record dispatch receives (docs/protocol.md).

Location: the device's GPS fix when it sent one (and, when the premises are
surveyed, it is no older than the gateway's `location_fix_max_age_s`), else
the registered premises location (an alert without a fix is still an
alert), else none. The station and candidates are routed from that location
(gateway/stations/alerts.py; unrouted without one).
Coordinates come from exact sources (JSON text from the device, integer
1e-7 degrees from the registry) and are emitted with at most 7 decimals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.protocol import CONTACT_ID
from gateway.stations.router import UNROUTED, Routing
from gateway.storage.alerts import AlertContext
from gateway.storage.common import as_utc
from gateway.storage.profiles import OwnerProfile, PremisesProfile


def rfc3339(moment: datetime) -> str:
    return as_utc(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def e7_to_degrees(value: int | None) -> float | None:
    # A 7-decimal value round-trips exactly through a double's shortest repr.
    return None if value is None else round(value / 10_000_000, 7)


# A dispatch alert's location ({"lat", "lon", ...}) -> its routing.
Route = Callable[[Mapping[str, Any]], Routing]


def location(body: dict[str, Any], premises_lat: float | None, premises_lon: float | None,
             max_fix_age_s: int | None = None) -> dict[str, Any]:
    """`max_fix_age_s`: an older fix gives way to surveyed premises (a stale fix of a
    moving device is a worse guess than where the button is registered)."""
    loc = body.get("loc")
    surveyed = premises_lat is not None and premises_lon is not None
    if loc and not (surveyed and max_fix_age_s is not None and loc["age"] > max_fix_age_s):
        return {"lat": loc["lat"], "lon": loc["lon"], "accuracy_m": loc["acc"], "source": loc["src"],
                "age_s": loc["age"]}
    if surveyed:
        return {"lat": premises_lat, "lon": premises_lon, "accuracy_m": None, "source": "premises",
                "age_s": None}
    return {"lat": None, "lon": None, "accuracy_m": None, "source": "none", "age_s": None}


def alert_location(ctx: AlertContext, max_fix_age_s: int | None = None) -> dict[str, Any]:
    """`location()` of a stored alert: its fix, else its device's premises."""
    premises = ctx.profile.premises
    return location(ctx.alert.body, e7_to_degrees(premises.lat_e7), e7_to_degrees(premises.lon_e7), max_fix_age_s)


def owner_record(owner: OwnerProfile) -> dict[str, Any]:
    return {
        "name": owner.name,
        "phone": owner.phone,
        "emergency_contacts": [{"name": c["name"], "phone": c["phone"]} for c in owner.emergency_contacts],
    }


def premises_record(premises: PremisesProfile) -> dict[str, Any]:
    return {"kind": premises.kind, "address": premises.address,
            "lat": e7_to_degrees(premises.lat_e7), "lon": e7_to_degrees(premises.lon_e7)}


def dispatch_alert(ctx: AlertContext, redelivery: bool = False, *, route: Route | None = None,
                   max_fix_age_s: int | None = None) -> dict[str, Any]:
    """`redelivery`: this revision may have reached dispatch before (a re-publication).
    `route`: the station routing for the record's location (None: unrouted)."""
    alert, device = ctx.alert, ctx.profile
    body = alert.body
    premises = premises_record(device.premises)
    pressed_at = body.get("ts")
    where = location(body, premises["lat"], premises["lon"], max_fix_age_s)
    routing = route(where) if route is not None else UNROUTED
    return {
        "alert_id": alert.id,
        "rev": alert.rev,
        "type": alert.type,
        "cid": CONTACT_ID[alert.type],
        "state": alert.state,
        "test": alert.type == "test",
        "silent": alert.type == "silent_sos",
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
        "location": where,
        **routing.dispatch_fields(),  # station (null: unrouted), candidates
        # Nobody acknowledged in time (gateway/escalation.py): level, reason, stations so far; null before.
        "escalation": alert.escalation if alert.escalation_level else None,
        "history": {
            "recent_alerts": ctx.recent_alerts,
            "false_alarms": ctx.false_alarms,
            "last_alert_at": rfc3339(ctx.last_alert_at) if ctx.last_alert_at else None,
        },
        "redelivery": redelivery,
        **({"cancels": f"{alert.device_id}:{body['ref']}"} if alert.type == "cancel" else {}),
    }
